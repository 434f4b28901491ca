import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRoom } from "../helpers/server.js";
import { allDecodeFromAll, eventually, info, join, stats, callFixture } from "./call-helpers.js";

describe("call page: mesh", () => {
  const call = callFixture();

  it("three people join one room and each decodes video from both others", async () => {
    const room = await createRoom(call.server, {
      title: "Three-way check",
      participants: [
        { id: "ana", name: "Ana Host", role: "host" },
        { id: "ben", name: "Ben Patient", role: "participant" },
        { id: "cai", name: "Cai Nurse", role: "participant" },
      ],
    });
    for (const p of room.participants) call.open.push(await join(call.browser, p.joinUrl));
    const pages = call.open.slice(0, 3);
    const byPeer = await allDecodeFromAll(pages);
    assert.equal(Object.keys(byPeer).length, 3);
    for (const [self, list] of Object.entries(byPeer)) {
      assert.equal(list.length, 2, `${self} has a connection to each other person`);
      for (const l of list) assert.equal(l.connectionState, "connected");
    }
    // The grid shows three tiles with names on every page.
    for (const p of pages) {
      await eventually("three tiles", async () => (await p.page.locator(".stage .tile").count()) === 3, { pages });
      const names = await p.page.locator(".tile figcaption .name").allTextContents();
      assert.ok(names.some((n) => n.includes("Ana Host")));
    }
    // The mesh steps its send quality down for three people.
    const cap = (await info(pages[0]!)).cap;
    assert.ok(cap.bitrate < 1_500_000, `send cap for 3 people is below the 2-person one (${cap.bitrate})`);
    // Two cores are shared by everything: free them for the next test.
    for (const p of pages) await p.context.close();
  });

  it("measures the time from clicking Join to the first decoded frame", async () => {
    const room = await createRoom(call.server, { participants: [{ name: "First", role: "host" }, { name: "Second", role: "participant" }] });
    const first = await join(call.browser, room.participants[0]!.joinUrl);
    call.open.push(first);
    await eventually("first person in the call", async () => (await info(first)).phase === "in-call", { pages: [first] });
    const second = await join(call.browser, room.participants[1]!.joinUrl);
    call.open.push(second);
    const t = await eventually(
      "a first decoded frame on the second page",
      async () => {
        const timings = await second.page.evaluate(() => (window as any).__parley.timings());
        return timings.joinToFirstFrameMs !== undefined ? timings : undefined;
      },
      { pages: [first, second] },
    );
    const s2 = await stats(second);
    assert.ok((s2[0]?.framesDecoded[0] ?? 0) > 0);
    console.log(`# join-to-first-frame on loopback: ${t.joinToFirstFrameMs} ms (welcome after ${Math.round(t.welcome - t.joinClicked)} ms)`);
    assert.ok(t.joinToFirstFrameMs > 0);
  });
});
