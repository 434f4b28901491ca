import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import jwt from "jsonwebtoken";
import { eq } from "drizzle-orm";
import WebSocket from "ws";
import { auditLog, chatMessages, recordingConsents, statsReports } from "../src/db/schema.js";
import { closeOf, Peer, sleep } from "./helpers/signaling.js";
import { createRoom, startTestServer, type TestServer } from "./helpers/server.js";

const people = (...roles: string[]) => roles.map((role, i) => ({ name: `P${i}`, role }));

describe("signaling over WebSocket", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it("introduces peers and relays offers, answers and candidates inside the room, with seq per recipient", async () => {
    const room = await createRoom(s, { participants: people("host", "participant") });
    const [h, p] = room.participants;
    const a = await Peer.join(s, h!.token);
    const welcomeA = a.frames[0]!;
    assert.equal(welcomeA.type, "welcome");
    assert.equal(welcomeA.from, "server");
    assert.equal(welcomeA.data.self.id, h!.id);
    assert.deepEqual(welcomeA.data.peers, []);
    assert.equal(welcomeA.data.room.id, room.roomId);
    assert.ok(Array.isArray(welcomeA.data.iceServers));
    const b = await Peer.join(s, p!.token);
    assert.deepEqual(
      b.frames[0]!.data.peers.map((x: { id: string }) => x.id),
      [h!.id],
    );
    const joined = await a.next("peer-joined");
    assert.equal(joined.data.peer.id, p!.id);
    assert.equal(joined.data.peer.transport, "ws");

    b.send({ type: "offer", to: h!.id, data: { sdp: "v=0 offer" } });
    const offer = await a.next("offer");
    assert.equal(offer.from, p!.id);
    assert.deepEqual(offer.data, { sdp: "v=0 offer", type: "offer" });
    a.send({ type: "answer", to: p!.id, data: { sdp: "v=0 answer" } });
    assert.equal((await b.next("answer")).data.sdp, "v=0 answer");
    b.send({ type: "ice-candidate", to: h!.id, data: { candidate: { candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", sdpMid: "0", sdpMLineIndex: 0 } } });
    assert.equal((await a.next("ice-candidate")).data.candidate.sdpMid, "0");
    b.send({ type: "media-state", data: { audio: true, video: false } });
    assert.deepEqual((await a.next("media-state")).data, { audio: true, video: false, screen: false });
    b.send({ type: "hand", data: { raised: true } });
    assert.equal((await a.next("hand")).data.raised, true);
    b.send({ type: "ping", id: "p1" });
    await b.next("pong");

    for (const peer of [a, b]) {
      const seqs = peer.frames.map((f) => f.seq);
      assert.deepEqual(seqs, seqs.map((_, i) => seqs[0]! + i), "seq increases by one per recipient");
      for (const f of peer.frames) assert.ok(!Number.isNaN(Date.parse(f.ts)));
    }
    a.close();
    assert.equal((await b.next("peer-left")).data.id, h!.id);
    b.close();
  });

  it("answers bad frames with an error carrying the client's id, and never delivers them", async () => {
    const room = await createRoom(s, { participants: people("participant", "participant") });
    const other = await createRoom(s, { participants: people("participant") });
    const [x, y] = room.participants;
    const a = await Peer.join(s, x!.token);
    const b = await Peer.join(s, y!.token);
    const stranger = await Peer.join(s, other.participants[0]!.token);
    a.send("{not json");
    assert.equal((await a.next("error")).data.code, "invalid_message");
    a.send({ type: "teleport", id: "t1" });
    assert.deepEqual((await a.next("error")).data, { code: "unknown_type", message: 'unknown message type "teleport"', ref: "t1" });
    a.send({ type: "offer", to: y!.id, data: { sdp: 42 }, id: "t2" });
    const wrong = await a.next("error");
    assert.equal(wrong.data.code, "invalid_message");
    assert.equal(wrong.data.ref, "t2");
    a.send({ type: "offer", data: { sdp: "v=0" }, id: "t3" });
    assert.equal((await a.next("error")).data.ref, "t3");
    a.send({ type: "offer", to: other.participants[0]!.id, data: { sdp: "v=0" }, id: "t4" });
    const outside = await a.next("error");
    assert.equal(outside.data.code, "peer_not_found");
    assert.equal(outside.data.ref, "t4");
    a.send({ type: "chat", to: other.participants[0]!.id, data: { text: "psst" }, id: "t5" });
    assert.equal((await a.next("error")).data.ref, "t5");
    a.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal((await a.next("error")).data.code, "invalid_message");
    a.send({ type: "ping", id: "done" });
    await a.next("pong");
    await sleep(100);
    assert.deepEqual(
      stranger.frames.map((f) => f.type),
      ["welcome"],
      "nothing reached the other room",
    );
    assert.ok(!b.frames.some((f) => f.type === "offer" || f.type === "chat"));
    for (const p of [a, b, stranger]) p.close();
  });

  it("refuses the upgrade with a real HTTP status when there is no token or no upgrade", async () => {
    const plain = await fetch(`${s.url}/ws?token=x`);
    assert.equal(plain.status, 426);
    assert.equal((await plain.json()).code, "upgrade_required");
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${s.wsUrl}/ws`);
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode!));
      ws.on("open", () => reject(new Error("opened without a token")));
      ws.on("error", () => {});
    });
    assert.equal(status, 401);
  });

  it("closes with the API's codes for bad, expired, foreign and ended tokens and missing rooms", async () => {
    const room = await createRoom(s, { participants: people("participant", "participant") });
    const other = await createRoom(s, { participants: people("participant") });
    const sign = (claims: Record<string, unknown>) => jwt.sign({ sub: "someone", role: "participant", exp: Math.floor(Date.now() / 1000) + 600, ...claims }, s.jwtSecret);

    const bad = await closeOf(s, "not-a-jwt");
    assert.equal(bad.code, 4401);
    assert.match(bad.reason, /^invalid_token/);
    const forged = await closeOf(s, jwt.sign({ sub: "x", roomId: room.roomId, exp: Math.floor(Date.now() / 1000) + 60 }, "another secret"));
    assert.equal(forged.code, 4401);
    const expired = await closeOf(s, sign({ roomId: room.roomId, exp: Math.floor(Date.now() / 1000) - 10 }));
    assert.equal(expired.code, 4401);
    assert.match(expired.reason, /^token_expired/);
    assert.equal((await closeOf(s, sign({ roomId: "no-such-room" }))).code, 4004);
    const cross = await closeOf(s, room.participants[0]!.token, { roomId: other.roomId });
    assert.equal(cross.code, 4003);
    assert.match(cross.reason, /^token_room_mismatch/);
    assert.equal((await closeOf(s, sign({ roomId: room.roomId, sessionId: "older-session" }))).code, 4003);

    const ended = await createRoom(s, { participants: people("participant") });
    assert.equal((await s.api(`/api/rooms/${ended.roomId}/end`, { method: "POST", json: {} })).status, 200);
    const gone = await closeOf(s, ended.participants[0]!.token);
    assert.equal(gone.code, 4010);
  });

  it("closes with 4009 when the room is full", async () => {
    const room = await createRoom(s, { maxParticipants: 2, participants: people("participant", "participant", "participant") });
    const [a, b, c] = room.participants;
    const pa = await Peer.join(s, a!.token);
    const pb = await Peer.join(s, b!.token);
    const full = await closeOf(s, c!.token);
    assert.equal(full.code, 4009);
    assert.match(full.reason, /^room_full/);
    pa.close();
    await pb.next("peer-left");
    const pc = await Peer.join(s, c!.token);
    assert.equal(pc.frames[0]!.type, "welcome");
    pb.close();
    pc.close();
  });

  it("replaces a second connection of the same participant with 4001", async () => {
    const room = await createRoom(s, { participants: people("participant", "participant") });
    const [x, y] = room.participants;
    const other = await Peer.join(s, y!.token);
    const first = await Peer.join(s, x!.token);
    await other.next("peer-joined");
    // A resume (same page, new socket): no churn for the others.
    const second = await Peer.open(s, x!.token, { resume: first.lastSeq });
    assert.equal((await first.closed).code, 4001);
    other.send({ type: "offer", to: x!.id, data: { sdp: "after replace" } });
    assert.equal((await second.next("offer")).data.sdp, "after replace");
    await sleep(100);
    assert.equal(other.all("peer-left").length, 0);
    assert.equal(other.all("peer-joined").length, 1);
    // A fresh page (no resume): the others start over with it.
    const third = await Peer.join(s, x!.token);
    assert.equal((await second.closed).code, 4001);
    assert.equal((await other.next("peer-left")).data.reason, "replaced");
    assert.equal((await other.next("peer-joined")).data.peer.id, x!.id);
    assert.equal(third.frames[0]!.type, "welcome");
    third.close();
    other.close();
  });

  it("replays exactly what a dropped socket missed, in order and without duplicates", async () => {
    const room = await createRoom(s, { participants: people("participant", "participant") });
    const [x, y] = room.participants;
    const a = await Peer.join(s, x!.token);
    const b = await Peer.join(s, y!.token);
    await a.next("peer-joined");
    b.send({ type: "chat", data: { text: "before" } });
    await a.next("chat");
    const last = a.lastSeq;
    a.ws.terminate(); // no close frame: the server sees an abnormal drop
    await sleep(200);
    for (let i = 0; i < 20; i++) b.send({ type: "chat", data: { text: `missed ${i}` } });
    b.send({ type: "ping" });
    await b.next("pong");
    const again = await Peer.open(s, x!.token, { resume: last });
    for (let i = 0; i < 20; i++) assert.equal((await again.next("chat")).data.text, `missed ${i}`);
    b.send({ type: "chat", data: { text: "live" } });
    assert.equal((await again.next("chat")).data.text, "live");
    const seqs = again.frames.map((f) => f.seq);
    assert.deepEqual(seqs, seqs.map((_, i) => last + 1 + i));
    assert.ok(!again.frames.some((f) => f.type === "welcome"));
    await sleep(100);
    assert.equal(b.all("peer-left").length, 0, "a quick reconnect is not a leave");
    again.close();
    b.close();
  });

  it("answers a resume the server cannot honour with a fresh welcome and resync", async () => {
    const room = await createRoom(s, { participants: people("participant") });
    const a = await Peer.join(s, room.participants[0]!.token, { resume: 12345 });
    assert.equal(a.frames[0]!.type, "welcome");
    assert.equal(a.frames[0]!.data.resync, true);
    const again = await Peer.join(s, room.participants[0]!.token, { resume: 99999 });
    assert.equal(again.frames[0]!.data.resync, true);
    again.close();
  });

  it("keeps a lobby: waiting people get nothing until admitted, hosts see them, deny closes", async () => {
    const room = await createRoom(s, { waitingRoom: true, participants: people("host", "participant", "participant") });
    const [h, g1, g2] = room.participants;
    const host = await Peer.join(s, h!.token);
    const guest = await Peer.join(s, g1!.token);
    const w = guest.frames[0]!;
    assert.equal(w.type, "waiting");
    assert.equal(w.data.peers, undefined);
    assert.equal(w.data.iceServers, undefined);
    const lobby = await host.next((f) => f.type === "lobby" && f.data.waiting.length === 1);
    assert.equal(lobby.data.waiting[0].id, g1!.id);
    assert.equal(host.all("peer-joined").length, 0);

    guest.send({ type: "offer", to: h!.id, data: { sdp: "sneaky" }, id: "w1" });
    const na = await guest.next("error");
    assert.equal(na.data.code, "not_admitted");
    assert.equal(na.data.ref, "w1");
    host.send({ type: "chat", data: { text: "hosts only" } });
    host.send({ type: "offer", to: g1!.id, data: { sdp: "x" }, id: "h1" });
    assert.equal((await host.next("error")).data.code, "peer_not_found");
    const s1 = await fetch(`${s.url}/api/turn/credentials`, { headers: { authorization: `Bearer ${g1!.token}` } });
    assert.notEqual(s1.status, 200, "no TURN credentials while waiting");

    // A waiting participant cannot admit itself.
    guest.send({ type: "admit", data: { participantId: g1!.id }, id: "self" });
    assert.equal((await guest.next("error")).data.code, "forbidden");

    host.send({ type: "admit", data: { participantId: g1!.id } });
    await guest.next("admitted");
    const welcome = await guest.next("welcome");
    assert.deepEqual(
      welcome.data.peers.map((p: { id: string }) => p.id),
      [h!.id],
    );
    assert.equal((await host.next("peer-joined")).data.peer.id, g1!.id);
    assert.ok(!guest.frames.some((f) => f.type === "chat"), "room chat sent while waiting is not delivered later");

    const second = await Peer.join(s, g2!.token);
    assert.equal(second.frames[0]!.type, "waiting");
    await host.next((f) => f.type === "lobby" && f.data.waiting.some((x: { id: string }) => x.id === g2!.id));
    host.send({ type: "deny", data: { participantId: g2!.id, reason: "not today" } });
    assert.equal((await second.next("denied")).data.reason, "not today");
    const closed = await second.closed;
    assert.equal(closed.code, 4003);
    assert.match(closed.reason, /not today/);
    const knock = await closeOf(s, g2!.token);
    assert.equal(knock.code, 4003, "a denied participant cannot knock again at once");
    assert.match(knock.reason, /^denied/);
    assert.equal(guest.all("peer-joined").length, 0);
    host.close();
    guest.close();
  });

  it("lets only hosts use host controls; a participant's attempt changes nothing", async () => {
    const room = await createRoom(s, { participants: people("host", "participant", "participant") });
    const [h, x, y] = room.participants;
    const host = await Peer.join(s, h!.token);
    const a = await Peer.join(s, x!.token);
    const b = await Peer.join(s, y!.token);
    for (const type of ["remove", "mute", "admit", "deny"]) {
      a.send({ type, data: { participantId: y!.id }, id: `f-${type}` });
      const err = await a.next("error");
      assert.equal(err.data.code, "forbidden");
      assert.equal(err.data.ref, `f-${type}`);
    }
    a.send({ type: "end-room", id: "f-end" });
    assert.equal((await a.next("error")).data.code, "forbidden");
    await sleep(100);
    assert.equal(b.closeInfo, undefined);
    assert.ok(!b.frames.some((f) => f.type === "mute" || f.type === "removed"));
    assert.equal((await (await s.api(`/api/rooms/${room.roomId}/status`)).json()).status, "active");

    host.send({ type: "mute", data: { participantId: y!.id } });
    const mute = await b.next("mute");
    assert.equal(mute.from, h!.id);
    assert.equal(mute.data.kind, "audio");

    host.send({ type: "remove", data: { participantId: y!.id, reason: "rude" } });
    assert.equal((await b.next("removed")).data.reason, "rude");
    assert.equal((await b.closed).code, 4003);
    assert.equal((await a.next("peer-left")).data.id, y!.id);
    const back = await closeOf(s, y!.token);
    assert.equal(back.code, 4003);
    assert.match(back.reason, /^participant_removed/);
    const poll = await fetch(`${s.url}/api/signal/join`, { method: "POST", headers: { authorization: `Bearer ${y!.token}` } });
    assert.equal(poll.status, 403);

    host.send({ type: "end-room", data: { reason: "time is up" } });
    for (const p of [host, a]) {
      assert.equal((await p.next("room-ended")).data.reason, "time is up");
      assert.equal((await p.closed).code, 4010);
    }
    assert.equal((await (await s.api(`/api/rooms/${room.roomId}/status`)).json()).status, "ended");
  });

  it("ends every connection when the room is ended through the REST API", async () => {
    const room = await createRoom(s, { waitingRoom: true, participants: people("host", "participant") });
    const host = await Peer.join(s, room.participants[0]!.token);
    const waiting = await Peer.join(s, room.participants[1]!.token);
    const res = await s.api(`/api/rooms/${room.roomId}/end`, { method: "POST", json: { reason: "clinic closed" } });
    assert.equal(res.status, 200);
    for (const p of [host, waiting]) {
      assert.equal((await p.next("room-ended")).data.reason, "clinic closed");
      assert.equal((await p.closed).code, 4010);
    }
    const h = await (await fetch(`${s.url}/health`)).json();
    assert.equal(h.status, "ok");
  });

  it("keeps chat, stats and recording consent for the session record", async () => {
    const room = await createRoom(s, { participants: people("host", "participant") });
    const [h, p] = room.participants;
    const host = await Peer.join(s, h!.token);
    const guest = await Peer.join(s, p!.token);
    guest.send({ type: "chat", data: { text: "hello all" } });
    assert.deepEqual((await host.next("chat")).data, { text: "hello all", to: null });
    host.send({ type: "chat", to: p!.id, data: { text: "just you" } });
    assert.deepEqual((await guest.next("chat")).data, { text: "just you", to: p!.id });
    guest.send({ type: "stats", data: { rttMs: 42, lossPct: 1.5, talkMs: 3000, relay: false } });
    guest.send({ type: "recording-consent", data: { granted: true } });
    guest.send({ type: "ping" });
    await guest.next("pong");
    await sleep(50);
    assert.equal(host.all("stats").length, 0, "stats are not relayed");
    const db = s.running.ctx.db;
    const chats = db.select().from(chatMessages).where(eq(chatMessages.roomId, room.roomId)).all();
    assert.deepEqual(
      chats.map((c) => [c.fromId, c.toId, c.text]),
      [
        [p!.id, null, "hello all"],
        [h!.id, p!.id, "just you"],
      ],
    );
    const stats = db.select().from(statsReports).where(eq(statsReports.roomId, room.roomId)).all();
    assert.equal(stats.length, 1);
    assert.equal(stats[0]!.rttMs, 42);
    assert.equal(stats[0]!.talkMs, 3000);
    const consent = db.select().from(recordingConsents).where(eq(recordingConsents.roomId, room.roomId)).all();
    assert.equal(consent[0]!.granted, true);
    const audit = db.select().from(auditLog).where(eq(auditLog.roomId, room.roomId)).all();
    assert.ok(audit.some((a) => a.action === "recording.consent_granted" && a.actor === p!.id));
    host.close();
    guest.close();
  });

  it("tells the room when a recording starts and stops", async () => {
    const room = await createRoom(s, { recording: { enabled: true, requireConsent: false }, participants: people("host", "participant") });
    const [h, p] = room.participants;
    const host = await Peer.join(s, h!.token);
    const guest = await Peer.join(s, p!.token);
    const base = { roomId: room.roomId, sessionId: room.sessionId, recordingId: "rec-1", participantId: h!.id, at: new Date().toISOString() };
    s.running.ctx.bus.emit("recording-started", base);
    assert.deepEqual((await guest.next("recording")).data, { active: true, by: h!.id, recordingId: "rec-1" });
    const late = await Peer.join(s, p!.token);
    assert.equal(late.frames[0]!.data.room.recording.active, true);
    s.running.ctx.bus.emit("recording-stopped", base);
    assert.equal((await late.next("recording")).data.active, false);
    host.close();
    late.close();
    guest.close();
  });

  it("rate-limits a flooding participant with one rate_limited error", async () => {
    const room = await createRoom(s, { participants: people("participant", "participant") });
    const a = await Peer.join(s, room.participants[0]!.token);
    const b = await Peer.join(s, room.participants[1]!.token);
    for (let i = 0; i < 400; i++) a.send({ type: "hand", data: { raised: i % 2 === 0 } });
    assert.equal((await a.next("error")).data.code, "rate_limited");
    await sleep(200);
    const relayed = b.all("hand").length;
    assert.ok(relayed >= 150 && relayed < 400, `relayed ${relayed}`);
    assert.equal(a.all("error").length, 1);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(metrics, /parley_signaling_rate_limited_total [1-9]/);
    assert.match(metrics, /parley_signaling_messages_relayed_total\{type="hand"\} [1-9]/);
    assert.match(metrics, /parley_signaling_connections\{transport="ws"\} [1-9]/);
    assert.match(metrics, /parley_signaling_relay_latency_seconds_count [1-9]/);
    a.close();
    b.close();
  });
});

describe("signaling figures", () => {
  it("counts live connections and rooms in /health", async () => {
    const s = await startTestServer();
    try {
      const room = await createRoom(s, { participants: people("participant", "participant") });
      const a = await Peer.join(s, room.participants[0]!.token);
      const h = await (await fetch(`${s.url}/health`)).json();
      assert.equal(h.connections, 1);
      assert.equal(h.activeRooms, 1);
      a.close();
      await a.closed;
      await sleep(100);
      const after = await (await fetch(`${s.url}/health`)).json();
      assert.equal(after.connections, 0);
      assert.equal(after.activeRooms, 0);
    } finally {
      await s.close();
    }
  });
});

describe("signaling across a restart", () => {
  it("answers a resume after a server restart with resync", async () => {
    let s = await startTestServer();
    try {
      const room = await createRoom(s, { participants: people("participant") });
      const a = await Peer.join(s, room.participants[0]!.token);
      const last = a.lastSeq;
      s = await s.restart();
      await a.closed;
      const again = await Peer.join(s, room.participants[0]!.token, { resume: last });
      assert.equal(again.frames[0]!.type, "welcome");
      assert.equal(again.frames[0]!.data.resync, true);
      again.close();
    } finally {
      await s.close();
    }
  });

  it("tells nobody that anyone left when it stops, and marks a page that comes back as the same page", async () => {
    let s = await startTestServer();
    try {
      const room = await createRoom(s, { participants: people("host", "participant") });
      const [h, g] = room.participants;
      const a = await Peer.join(s, h!.token);
      const b = await Peer.join(s, g!.token);
      await a.next("peer-joined");
      const lastA = a.lastSeq;
      const lastB = b.lastSeq;
      s = await s.restart();
      assert.equal((await a.closed).code, 1001);
      assert.equal((await b.closed).code, 1001);
      // Media is peer to peer and outlives the process: a peer-left would make pages drop working calls.
      assert.deepEqual([...a.all("peer-left"), ...b.all("peer-left")], []);

      const a2 = await Peer.join(s, h!.token, { resume: lastA });
      assert.equal(a2.frames[0]!.data.resync, true);
      // Resuming pages are the same pages: the others may keep their connection to them.
      const b2 = await Peer.join(s, g!.token, { resume: lastB });
      assert.deepEqual(b2.frames[0]!.data.peers.map((p: { id: string }) => p.id), [h!.id]);
      const back = await a2.next("peer-joined");
      assert.equal(back.data.peer.id, g!.id);
      assert.equal(back.data.resync, true);
      // A page without a resume point (a reload) is new: no resync mark, the others start over with it.
      b2.close();
      await a2.next("peer-left");
      const b3 = await Peer.join(s, g!.token);
      assert.equal(b3.frames[0]!.data.resync, undefined);
      const fresh = await a2.next("peer-joined");
      assert.equal(fresh.data.resync, undefined);
      a2.close();
      b3.close();
    } finally {
      await s.close();
    }
  });
});

describe("signaling and TURN credentials", () => {
  it("hands ICE servers with TURN REST credentials in welcome, and none while waiting", async () => {
    const s = await startTestServer({ PARLEY_TURN: "external", PARLEY_TURN_URLS: "turn:127.0.0.1:3478?transport=udp", PARLEY_TURN_SECRET: "turn-test-secret" });
    try {
      const room = await createRoom(s, { waitingRoom: true, participants: people("host", "participant") });
      const [h, g] = room.participants;
      const host = await Peer.join(s, h!.token);
      const turn = host.frames[0]!.data.iceServers.find((x: { username?: string }) => x.username);
      assert.ok(turn, "a TURN entry with credentials");
      assert.match(turn.username, new RegExp(`^\\d+:${h!.id}$`));
      assert.equal(typeof turn.credential, "string");
      const guest = await Peer.join(s, g!.token);
      assert.equal(guest.frames[0]!.type, "waiting");
      assert.ok(!JSON.stringify(guest.frames).includes("turn:"), "no relay address while waiting");
      host.send({ type: "admit", data: { participantId: g!.id } });
      const welcome = await guest.next("welcome");
      assert.match(welcome.data.iceServers.find((x: { username?: string }) => x.username).username, new RegExp(`:${g!.id}$`));
      host.close();
      guest.close();
    } finally {
      await s.close();
    }
  });
});
