import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { Peer, Poller } from "./helpers/signaling.js";
import { createRoom, startTestServer, type TestServer } from "./helpers/server.js";

describe("signaling liveness", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it("drops a socket that stops answering pings within 30 s and a poller silent for 45 s, and keeps a healthy idle socket", async () => {
    const room = await createRoom(s, { maxParticipants: 4, participants: ["host", "participant", "participant", "participant"].map((role, i) => ({ name: `P${i}`, role })) });
    const [h, dead, healthy, p] = room.participants;
    const watcher = await Peer.join(s, h!.token);
    const zombie = await Peer.join(s, dead!.token);
    const idle = await Peer.join(s, healthy!.token);
    const poller = new Poller(s, p!.token);
    await poller.join();
    await watcher.next((f) => f.type === "peer-joined" && f.data.peer.id === p!.id);

    // Stop reading: the client's ws library never sees the pings, so it never answers.
    const pausedAt = Date.now();
    (zombie.ws as unknown as { _socket: Socket })._socket.pause();
    const left = await watcher.next((f) => f.type === "peer-left" && f.data.id === dead!.id, 40_000);
    const socketGoneAfter = Date.now() - pausedAt;
    assert.ok(socketGoneAfter < 30_000, `dead socket dropped after ${socketGoneAfter} ms`);
    assert.equal(left.data.reason, "timeout");

    const pollerLeft = await watcher.next((f) => f.type === "peer-left" && f.data.id === p!.id, 60_000);
    assert.equal(pollerLeft.data.reason, "timeout");
    assert.ok(Date.now() - pausedAt >= 44_000, "the poller was given its 45 s");

    assert.equal(idle.closeInfo, undefined, "a socket that answers pings stays");
    assert.ok(!watcher.frames.some((f) => f.type === "peer-left" && f.data.id === healthy!.id));
    watcher.send({ type: "chat", data: { text: "still here?" } });
    assert.equal((await idle.next("chat")).data.text, "still here?");
    idle.close();
    watcher.close();
    zombie.ws.terminate();
  });
});
