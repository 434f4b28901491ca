import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { CLIENT_TYPES } from "../src/signaling/protocol.js";
import { Peer, Poller, sleep, type Frame } from "./helpers/signaling.js";
import { createRoom, startTestServer, type TestServer } from "./helpers/server.js";

const RUNS = 100;
const FRAMES_PER_RUN = 100;
const BODIES_PER_RUN = 10;
const WS_FUZZERS = 12;
const POLL_FUZZERS = 4;

describe("signaling under random and malformed input", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it(`survives ${RUNS * (FRAMES_PER_RUN + BODIES_PER_RUN)} random frames and bodies with no delivery across rooms`, async () => {
    // The room under attack, and a quiet room next to it whose peers must see nothing of it.
    const quiet = await createRoom(s, { participants: [{ name: "Q1", role: "host" }, { name: "Q2", role: "participant" }] });
    const noisy = await createRoom(s, {
      maxParticipants: WS_FUZZERS + POLL_FUZZERS,
      participants: Array.from({ length: WS_FUZZERS + POLL_FUZZERS }, (_, i) => ({ name: `F${i}`, role: "participant" })),
    });
    const quietIds = quiet.participants.map((p) => p.id);
    const noisyIds = noisy.participants.map((p) => p.id);
    const q1 = await Peer.join(s, quiet.participants[0]!.token);
    const q2 = new Poller(s, quiet.participants[1]!.token);
    await q2.join();
    const q2Frames: Frame[] = [];
    // The quiet poller keeps polling all along (a poller silent for 45 s is gone).
    let fuzzing = true;
    const background = (async () => {
      while (fuzzing) q2Frames.push(...(await q2.poll(1)).messages);
    })();

    const wsTokens = noisy.participants.slice(0, WS_FUZZERS).map((p) => p.token);
    const fuzzers: Peer[] = [];
    for (const t of wsTokens) fuzzers.push(await Peer.join(s, t));
    const pollers = noisy.participants.slice(WS_FUZZERS).map((p) => new Poller(s, p.token));
    for (const p of pollers) await p.join();
    const reopen = async (i: number) => {
      // An oversized frame closes a socket (1009): come back and keep going.
      if (fuzzers[i]!.ws.readyState !== 1) fuzzers[i] = await Peer.join(s, wsTokens[i]!);
      return fuzzers[i]!;
    };

    const anyId = fc.constantFrom(...noisyIds, ...quietIds, "nobody", "", "server");
    const anyType = fc.oneof(fc.constantFrom(...CLIENT_TYPES.filter((t) => t !== "leave"), "bogus", "", "__proto__", "constructor", "toString", "hasOwnProperty"), fc.string());
    const anyData = fc.oneof(
      fc.anything(),
      fc.record({ sdp: fc.oneof(fc.string({ minLength: 1 }), fc.integer(), fc.constant(null)) }),
      fc.record({ candidate: fc.oneof(fc.constant(null), fc.record({ candidate: fc.string(), sdpMid: fc.option(fc.string()), sdpMLineIndex: fc.option(fc.integer()) }), fc.anything()) }),
      fc.record({ text: fc.oneof(fc.string(), fc.integer()) }),
      fc.record({ participantId: anyId }),
      fc.record({ audio: fc.anything(), video: fc.boolean(), screen: fc.anything() }),
      fc.record({ rttMs: fc.double(), lossPct: fc.anything(), peers: fc.array(fc.record({ id: anyId, rttMs: fc.double() }), { maxLength: 60 }) }),
    );
    const envelope = fc.record(
      { type: fc.oneof({ weight: 4, arbitrary: anyType }, { weight: 1, arbitrary: fc.anything() }), to: fc.oneof(anyId, fc.anything()), data: anyData, id: fc.oneof(fc.string(), fc.integer(), fc.anything()) },
      { requiredKeys: ["type"] },
    );
    // Well-formed messages inside the noisy room keep the relay path busy while the rest is garbage.
    const valid = fc.record({
      type: fc.constantFrom("offer", "answer", "chat", "media-state", "hand", "ping"),
      to: fc.constantFrom(...noisyIds),
      data: fc.record({ sdp: fc.string({ minLength: 1, maxLength: 300 }), text: fc.string({ minLength: 1, maxLength: 50 }), raised: fc.boolean(), audio: fc.boolean(), video: fc.boolean() }),
    });
    const text = (v: unknown) => JSON.stringify(v) ?? "null";
    const frame = fc.oneof(
      { weight: 5, arbitrary: envelope.map(text) },
      { weight: 3, arbitrary: valid.map(text) },
      { weight: 1, arbitrary: fc.json() },
      { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
      { weight: 1, arbitrary: fc.tuple(envelope.map(text), fc.nat()).map(([t, n]) => t.slice(0, n % (t.length + 1))) },
      { weight: 1, arbitrary: fc.array(envelope, { maxLength: 5 }).map(text) },
    );
    const rare = fc.oneof(
      { weight: 80, arbitrary: frame },
      { weight: 1, arbitrary: fc.constant("x".repeat(70_000)) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
    );
    const body = fc.oneof(
      { weight: 3, arbitrary: fc.array(envelope, { maxLength: 20 }).map(text) },
      { weight: 3, arbitrary: envelope.map(text) },
      { weight: 2, arbitrary: fc.array(valid, { maxLength: 10 }).map(text) },
      { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
      { weight: 1, arbitrary: fc.json() },
      { weight: 1, arbitrary: fc.constant(JSON.stringify(Array.from({ length: 150 }, () => ({ type: "ping" })))) },
      { weight: 1, arbitrary: fc.constant(JSON.stringify({ type: "chat", data: { text: "y".repeat(70_000) } })) },
    );

    let run = 0;
    let sentFrames = 0;
    let sentBodies = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(rare, { minLength: FRAMES_PER_RUN, maxLength: FRAMES_PER_RUN }), fc.array(body, { minLength: BODIES_PER_RUN, maxLength: BODIES_PER_RUN }), async (frames, bodies) => {
        const i = run++ % WS_FUZZERS;
        let f = await reopen(i);
        for (const fr of frames) {
          if (f.ws.readyState !== 1) f = await reopen(i);
          f.ws.send(fr);
          sentFrames++;
        }
        const poller = pollers[run % POLL_FUZZERS]!;
        for (const b of bodies) {
          const res = await poller.post(b);
          sentBodies++;
          assert.ok([202, 400, 409, 413].includes(res.status), `POST answered ${res.status}: ${await res.text()}`);
        }
        const drained = await poller.poll(0, undefined);
        assert.ok(Array.isArray(drained.messages));
        const health = await fetch(`${s.url}/health`);
        assert.equal(health.status, 200);
        return true;
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    assert.equal(sentFrames, RUNS * FRAMES_PER_RUN);
    assert.equal(sentBodies, RUNS * BODIES_PER_RUN);

    fuzzing = false;
    await background;
    await sleep(500);
    const health = await fetch(`${s.url}/health`);
    assert.equal(health.status, 200);
    // The quiet room still works, both ways, across transports.
    q1.send({ type: "chat", data: { text: "still fine?" } });
    const got = await q2.until((fr) => fr.type === "chat", q2Frames);
    assert.equal(got.data.text, "still fine?");
    assert.equal((await q2.post({ type: "chat", data: { text: "yes" } })).status, 202);
    assert.equal((await q1.next("chat")).data.text, "yes");
    // Nothing from the noisy room ever reached it, and nothing of it reached the noisy room.
    for (const fr of [...q1.frames, ...q2Frames]) {
      assert.ok(fr.from === "server" || quietIds.includes(fr.from), `quiet room got a frame from ${fr.from}`);
      if (fr.type === "peer-joined") assert.ok(quietIds.includes(fr.data.peer.id));
    }
    for (const fz of fuzzers) for (const fr of fz.frames) assert.ok(!quietIds.includes(fr.from), `noisy room got a frame from ${fr.from}`);
    // And the noisy room's own peers still talk.
    const a = await reopen(0);
    const b = await reopen(1);
    await sleep(1500); // let the rate-limit buckets refill
    a.send({ type: "chat", to: noisyIds[1], data: { text: "after the storm" } });
    assert.equal((await b.next((fr) => fr.type === "chat" && fr.data.text === "after the storm", 10_000)).from, noisyIds[0]);
    for (const fz of fuzzers) fz.ws.terminate();
    q1.close();
  });
});
