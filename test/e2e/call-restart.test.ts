import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRoom } from "../helpers/server.js";
import { allDecodeFromAll, joinAll, clickJoin, eventually, info, join, keepsFlowing, openCall, stats, type CallPage, callFixture } from "./call-helpers.js";

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
    const [a, b] = (await joinAll(call, room.participants.slice(0, 2))) as [CallPage, CallPage];
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

  it("a page on the long-poll fallback comes back too, with its connection kept", async () => {
    await call.closePages();
    const room = await createRoom(call.server, { participants: [{ id: "wes", name: "Wes", role: "host" }, { id: "pia", name: "Pia", role: "participant" }] });
    const ws = await join(call.browser, room.participants[0]!.joinUrl);
    // Behind a proxy that refuses WebSocket upgrades: the page signals over long-poll.
    const poll = await openCall(call.browser, room.participants[1]!.joinUrl, {
      setup: async (_ctx, page) => page.routeWebSocket(/.*/, (w) => void w.close({ code: 1008, reason: "blocked by test proxy" })),
    });
    call.open.push(ws, poll);
    await clickJoin(poll);
    await allDecodeFromAll([ws, poll]);
    assert.equal((await info(poll)).transport, "poll");
    const before = await ufrags(poll);

    call.server = await call.server.restart();

    await eventually("both pages see each other in the new hub", async () => (await info(ws)).peers.includes("pia") && (await info(poll)).peers.includes("wes") && (await info(poll)).signaling === "open", { pages: [ws, poll] });
    await keepsFlowing(ws, "pia", [ws, poll]);
    await keepsFlowing(poll, "wes", [ws, poll]);
    assert.deepEqual(await ufrags(poll), before, "the polling page kept its connection");
    // Signaling works again over the poll transport: a raised hand crosses.
    await poll.page.click("#ctl-hand");
    await ws.page.locator('.tile[data-peer="pia"] .hand:not([hidden])').waitFor({ timeout: 20_000 });
  });
});
