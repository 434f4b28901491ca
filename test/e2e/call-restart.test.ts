import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRoom } from "../helpers/server.js";
import { allDecodeFromAll, eventually, info, join, keepsFlowing, stats, type CallPage, callFixture } from "./call-helpers.js";

/** The ICE username fragment of each link: a new RTCPeerConnection (or an ICE restart) changes it. */
async function ufrags(c: CallPage): Promise<Record<string, string | undefined>> {
  return Object.fromEntries((await stats(c)).map((s) => [s.id, s.localUfrag]));
}

describe("call page: the server restarts mid-call", () => {
  const call = callFixture();

  it("keeps the peer connections and their media, reconnects signaling, and lets a late joiner in", async () => {
    const room = await createRoom(call.server, {
      participants: [
        { id: "ana", name: "Ana", role: "host" },
        { id: "ben", name: "Ben", role: "participant" },
        { id: "cleo", name: "Cleo", role: "participant" },
      ],
    });
    const a = await join(call.browser, room.participants[0]!.joinUrl);
    const b = await join(call.browser, room.participants[1]!.joinUrl);
    call.open.push(a, b);
    await allDecodeFromAll([a, b]);
    const linksBefore = { a: await ufrags(a), b: await ufrags(b) };
    assert.ok(linksBefore.a.ben && linksBefore.b.ana, JSON.stringify(linksBefore));

    // The whole process goes away (an upgrade, a crash and its supervisor): sockets close, the hub is empty.
    const t0 = Date.now();
    call.server = await call.server.restart();

    for (const [name, page] of [["Ana", a], ["Ben", b]] as const) {
      await eventually(`${name} back on signaling`, async () => {
        const i = await info(page);
        return i.signaling === "open" && i.reconnections >= 1;
      }, { pages: [a, b] });
    }
    console.log(`# both pages back on signaling ${Date.now() - t0} ms after the restart began`);
    // Media is peer to peer: it never needed the server, so the restart must not tear it down.
    await keepsFlowing(a, "ben", [a, b]);
    await keepsFlowing(b, "ana", [a, b]);
    assert.deepEqual(await ufrags(a), linksBefore.a, "Ana kept her connection to Ben (same ICE session)");
    assert.deepEqual(await ufrags(b), linksBefore.b, "Ben kept his connection to Ana (same ICE session)");
    await eventually("each sees the other in the new hub", async () => (await info(a)).peers.includes("ben") && (await info(b)).peers.includes("ana"), { pages: [a, b] });

    // The new process relays again: a raised hand crosses, and someone joining now meets both.
    await a.page.click("#ctl-hand");
    await b.page.locator('.tile[data-peer="ana"] .hand:not([hidden])').waitFor({ timeout: 20_000 });
    const c = await join(call.browser, room.participants[2]!.joinUrl);
    call.open.push(c);
    await allDecodeFromAll([a, b, c]);
    assert.deepEqual((await ufrags(a)).ben, linksBefore.a.ben, "the late joiner did not disturb the kept link");
  });
});
