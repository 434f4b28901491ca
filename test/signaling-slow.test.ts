import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { Peer, sleep } from "./helpers/signaling.js";
import { createRoom, startTestServer, type TestServer } from "./helpers/server.js";

const slowDrops = async (s: TestServer) => Number(/parley_signaling_messages_dropped_total\{reason="slow_consumer"\} (\d+)/.exec(await (await fetch(`${s.url}/metrics`)).text())?.[1] ?? 0);

describe("signaling with a slow consumer", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it("stops pushing to a socket that does not read, keeps its frames in the mailbox, and delivers them in order once it reads again", async () => {
    const room = await createRoom(s, { participants: [{ name: "fast", role: "participant" }, { name: "slow", role: "participant" }] });
    const [f, sl] = room.participants;
    const fast = await Peer.join(s, f!.token);
    const slow = await Peer.join(s, sl!.token);
    await fast.next("peer-joined");
    const sock = (slow.ws as unknown as { _socket: Socket })._socket;
    sock.pause();
    // More than the kernel's socket buffers take (≈ 4 MB send + the paused receiver's window),
    // less than the mailbox keeps (8 MB) and the rate burst (200).
    const chunk = "z".repeat(58_000);
    const N = 110;
    for (let i = 0; i < N; i++) fast.send({ type: "offer", to: sl!.id, data: { sdp: `${i} ${chunk}` } });
    fast.send({ type: "ping" });
    await fast.next("pong");
    await sleep(500);
    assert.ok((await slowDrops(s)) > 0, "the server noticed the socket was not draining");
    sock.resume();
    for (let i = 0; i < N; i++) assert.ok((await slow.next("offer", 20_000)).data.sdp.startsWith(`${i} `));
    const seqs = slow.frames.map((x) => x.seq);
    assert.deepEqual(seqs, seqs.map((_, i) => seqs[0]! + i), "no frame lost or repeated");
    fast.close();
    slow.close();
  });
});
