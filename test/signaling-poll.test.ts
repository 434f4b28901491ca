import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Peer, Poller, sleep } from "./helpers/signaling.js";
import { createRoom, startTestServer, type TestServer } from "./helpers/server.js";

const people = (...roles: string[]) => roles.map((role, i) => ({ name: `P${i}`, role }));

describe("signaling over long-poll", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it("joins with a welcome, and a poller and a socket in one room exchange offers unchanged", async () => {
    const room = await createRoom(s, { participants: people("host", "participant") });
    const [h, p] = room.participants;
    const sock = await Peer.join(s, h!.token);
    const poller = new Poller(s, p!.token);
    const welcome = await poller.join();
    assert.equal(welcome.type, "welcome");
    assert.equal(welcome.self.id, p!.id);
    assert.equal(welcome.self.transport, "poll");
    assert.deepEqual(
      welcome.peers.map((x: { id: string }) => x.id),
      [h!.id],
    );
    assert.equal(welcome.data.self.id, p!.id);
    assert.equal(welcome.next, welcome.seq);
    assert.equal((await sock.next("peer-joined")).data.peer.transport, "poll");

    const sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n";
    const res = await poller.post({ type: "offer", to: h!.id, data: { sdp }, id: "o1" });
    assert.equal(res.status, 202);
    assert.deepEqual(await res.json(), { accepted: 1 });
    const offer = await sock.next("offer");
    assert.equal(offer.from, p!.id);
    assert.deepEqual(offer.data, { sdp, type: "offer" });

    sock.send({ type: "answer", to: p!.id, data: { sdp: "answer-sdp" } });
    sock.send({ type: "ice-candidate", to: p!.id, data: { candidate: null } });
    const seen: any[] = [];
    const answer = await poller.until((f) => f.type === "answer", seen);
    assert.equal(answer.from, h!.id);
    assert.equal(answer.data.sdp, "answer-sdp");
    const cand = seen.find((f) => f.type === "ice-candidate") ?? (await poller.until((f) => f.type === "ice-candidate"));
    assert.deepEqual(cand.data, { candidate: null });

    assert.equal((await poller.leave()).status, 200);
    assert.equal((await sock.next("peer-left")).data.id, p!.id);
    sock.close();
  });

  it("answers a poll at once when something is queued, holds it otherwise, and ends an older poll for a newer one", async () => {
    const room = await createRoom(s, { participants: people("participant", "participant") });
    const [x, y] = room.participants;
    const poller = new Poller(s, x!.token);
    await poller.join();
    const sock = await Peer.join(s, y!.token);
    const queued = await poller.poll(30);
    assert.ok(queued.messages.some((f) => f.type === "peer-joined"), "returned at once with the queued frame");

    const t0 = Date.now();
    const empty = await poller.poll(1);
    assert.deepEqual(empty.messages, []);
    assert.ok(Date.now() - t0 >= 900, "held about the wait time");

    const held = poller.poll(30);
    await sleep(200);
    sock.send({ type: "chat", data: { text: "wake up" } });
    const woke = await held;
    assert.equal(woke.messages[0]!.type, "chat");
    assert.equal(woke.messages[0]!.data.text, "wake up");

    const older = poller.poll(30);
    await sleep(200);
    const newer = poller.poll(30, woke.next);
    const first = await older;
    assert.deepEqual(first.messages, [], "the older poll ends empty");
    assert.equal(first.next, woke.next);
    sock.send({ type: "chat", data: { text: "for the newer" } });
    assert.equal((await newer).messages[0]!.data.text, "for the newer");
    await poller.leave();
    sock.close();
  });

  it("takes batches, and reports bad envelopes as error frames with their ref", async () => {
    const room = await createRoom(s, { participants: people("participant", "participant") });
    const other = await createRoom(s, { participants: people("participant") });
    const [x, y] = room.participants;
    const poller = new Poller(s, x!.token);
    await poller.join();
    const sock = await Peer.join(s, y!.token);
    const stranger = await Peer.join(s, other.participants[0]!.token);
    const res = await poller.post([
      { type: "chat", data: { text: "one" }, id: "a" },
      { type: "nope", id: "b" },
      { type: "offer", to: other.participants[0]!.id, data: { sdp: "x" }, id: "c" },
      { type: "hand", data: { raised: "yes" }, id: "d" },
      42,
      { type: "chat", data: { text: "two" }, id: "e" },
    ]);
    assert.equal(res.status, 202);
    assert.deepEqual(await res.json(), { accepted: 2 });
    assert.equal((await sock.next("chat")).data.text, "one");
    assert.equal((await sock.next("chat")).data.text, "two");
    const seen: any[] = [];
    await poller.until(() => false, seen, 1500).catch(() => {});
    const errors = seen.filter((f) => f.type === "error");
    assert.deepEqual(
      errors.map((e) => [e.data.ref, e.data.code]),
      [
        ["b", "unknown_type"],
        ["c", "peer_not_found"],
        ["d", "invalid_message"],
        [undefined, "invalid_message"],
      ],
    );
    assert.deepEqual(
      stranger.frames.map((f) => f.type),
      ["welcome"],
    );
    await poller.leave();
    sock.close();
    stranger.close();
  });

  it("refuses what it cannot take with a problem: no token, bad JSON, too large, not joined", async () => {
    const room = await createRoom(s, { participants: people("participant") });
    const token = room.participants[0]!.token;
    const noToken = await fetch(`${s.url}/api/signal/messages?wait=0`);
    assert.equal(noToken.status, 401);
    assert.equal(noToken.headers.get("content-type"), "application/problem+json");
    const poller = new Poller(s, token);
    const notJoined = await poller.post({ type: "ping" });
    assert.equal(notJoined.status, 409);
    assert.equal((await notJoined.json()).code, "not_joined");
    await poller.join();
    const badJson = await poller.post("{oops");
    assert.equal(badJson.status, 400);
    assert.equal((await badJson.json()).code, "invalid_json");
    const big = await poller.post({ type: "chat", data: { text: "x".repeat(70_000) } });
    assert.equal(big.status, 413);
    const scalar = await poller.post("17");
    assert.equal(scalar.status, 400);
    const badWait = await fetch(`${s.url}/api/signal/messages?wait=99`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(badWait.status, 400);
    const expired = await fetch(`${s.url}/api/signal/join`, { method: "POST", headers: { authorization: "Bearer nope" } });
    assert.equal(expired.status, 401);
    await poller.leave();
  });

  it("replays from `after` without loss or duplicates, and resyncs a cursor it no longer holds", async () => {
    const room = await createRoom(s, { participants: people("participant", "participant") });
    const [x, y] = room.participants;
    const poller = new Poller(s, x!.token);
    await poller.join();
    const sock = await Peer.join(s, y!.token);
    const start = (await poller.poll(0)).next;
    for (let i = 0; i < 10; i++) sock.send({ type: "chat", data: { text: `m${i}` } });
    sock.send({ type: "ping" });
    await sock.next("pong");
    const firstHalf = await poller.poll(0, start);
    const texts = firstHalf.messages.map((f) => f.data.text);
    assert.deepEqual(texts, Array.from({ length: 10 }, (_, i) => `m${i}`));
    // The answer was "lost": asking again from the same cursor gives the same frames.
    const again = await poller.poll(0, start);
    assert.deepEqual(
      again.messages.map((f) => f.seq),
      firstHalf.messages.map((f) => f.seq),
    );
    const seqs = again.messages.map((f) => f.seq);
    assert.deepEqual(seqs, seqs.map((_, i) => start + 1 + i));
    // Acknowledged frames are gone: an older cursor gets a fresh start.
    const resync = await poller.poll(0, 1);
    assert.equal(resync.messages[0]!.type, "welcome");
    assert.equal(resync.messages[0]!.data.resync, true);
    assert.equal((await sock.next("peer-left")).data.reason, "resync");
    await sock.next("peer-joined");
    await poller.leave();
    sock.close();
  });

  it("switches a participant from WebSocket to polling without the others noticing", async () => {
    const room = await createRoom(s, { participants: people("participant", "participant") });
    const [x, y] = room.participants;
    const a = await Peer.join(s, x!.token);
    const b = await Peer.join(s, y!.token);
    await a.next("peer-joined");
    const last = a.lastSeq;
    b.send({ type: "chat", data: { text: "while switching" } });
    const poller = new Poller(s, x!.token);
    const got = await poller.poll(5, last);
    assert.equal((await a.closed).code, 4001);
    assert.equal(got.messages[0]!.type, "chat");
    assert.equal(got.messages[0]!.seq, last + 1);
    await sleep(100);
    assert.equal(b.all("peer-left").length, 0);
    await poller.leave();
    b.close();
  });

  it("puts a poller in the waiting room like a socket", async () => {
    const room = await createRoom(s, { waitingRoom: true, participants: people("host", "participant") });
    const [h, g] = room.participants;
    const host = await Peer.join(s, h!.token);
    const poller = new Poller(s, g!.token);
    const first = await poller.join();
    assert.equal(first.type, "waiting");
    assert.equal(first.peers, undefined);
    assert.equal(first.iceServers, undefined);
    const res = await poller.post({ type: "chat", data: { text: "let me in" }, id: "w" });
    assert.deepEqual(await res.json(), { accepted: 0 });
    const lobby = await host.next((f) => f.type === "lobby" && f.data.waiting.length === 1);
    host.send({ type: "admit", data: { participantId: lobby.data.waiting[0].id } });
    const seen: any[] = [];
    await poller.until((f) => f.type === "welcome", seen);
    assert.deepEqual(
      seen.map((f) => f.type),
      ["error", "admitted", "welcome"],
    );
    await poller.leave();
    host.close();
  });
});
