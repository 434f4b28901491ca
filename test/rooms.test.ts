import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import jwt from "jsonwebtoken";
import { createRoom, startTestServer, type TestServer } from "./helpers/server.js";

/** Row counts of the tables a bad request could touch: it must change none of them. */
function snapshot(s: TestServer) {
  const q = (t: string) => (s.running.ctx.database.sqlite.prepare(`select count(*) n, coalesce(group_concat(rowid),'') r from ${t}`).get() as { n: number; r: string });
  return JSON.stringify(["rooms", "sessions", "participants", "audit_log"].map(q)) + JSON.stringify(s.running.ctx.database.sqlite.prepare("select * from rooms order by id").all());
}

async function problemOf(res: Response, status: number, code?: string) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${await res.clone().text()}`);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = await res.json();
  assert.equal(body.status, status);
  assert.equal(typeof body.title, "string");
  assert.equal(typeof body.detail, "string");
  if (code) assert.equal(body.code, code);
  return body;
}

describe("rooms API", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it("creates a room with participants, each with a token and join link", async () => {
    const res = await s.api("/api/rooms", {
      method: "POST",
      json: { roomId: "visit-1", title: "Follow-up", waitingRoom: true, recording: { enabled: true, requireConsent: true }, participants: [{ id: "dr-a", name: "Dr A", role: "host" }, { name: "Pat", role: "participant", email: "pat@example.org" }] },
    });
    assert.equal(res.status, 201);
    const room = await res.json();
    assert.equal(room.roomId, "visit-1");
    assert.equal(room.status, "waiting");
    assert.equal(room.maxParticipants, 8);
    assert.equal(room.waitingRoom, true);
    assert.deepEqual(room.recording, { enabled: true, requireConsent: true });
    assert.equal(room.joinUrl, `${s.url}/join/visit-1`);
    assert.equal(room.websocketUrl, `${s.wsUrl}/ws`);
    assert.equal(room.participants.length, 2);
    const [host, pat] = room.participants;
    assert.equal(host.id, "dr-a");
    assert.match(pat.id, /^[0-9a-f-]{36}$/);
    const claims = jwt.verify(host.token, s.jwtSecret) as jwt.JwtPayload;
    assert.equal(claims.sub, "dr-a");
    assert.equal(claims.roomId, "visit-1");
    assert.equal(claims.sessionId, room.sessionId);
    assert.equal(claims.role, "host");
    assert.equal(claims.name, "Dr A");
    assert.ok(claims.exp! > Date.now() / 1000 + 3600);
    assert.equal(host.joinUrl, `${s.url}/join/visit-1?token=${encodeURIComponent(host.token)}`);
  });

  it("refuses to create the same roomId twice (409) and changes nothing", async () => {
    const before = snapshot(s);
    await problemOf(await s.api("/api/rooms", { method: "POST", json: { roomId: "visit-1" } }), 409, "room_exists");
    assert.equal(snapshot(s), before);
  });

  it("lists rooms and filters them by status", async () => {
    await createRoom(s, { roomId: "to-end" });
    await s.api("/api/rooms/to-end/end", { method: "POST", json: {} });
    const all = await (await s.api("/api/rooms")).json();
    assert.ok(all.rooms.some((r: { roomId: string }) => r.roomId === "visit-1"));
    const ended = await (await s.api("/api/rooms?status=ended")).json();
    assert.deepEqual(
      ended.rooms.map((r: { roomId: string }) => r.roomId),
      ["to-end"],
    );
    await problemOf(await s.api("/api/rooms?status=bogus"), 400, "invalid_query");
  });

  it("gets one room with its participants, and 404s for an unknown one", async () => {
    const room = await (await s.api("/api/rooms/visit-1")).json();
    assert.equal(room.title, "Follow-up");
    assert.equal(room.participants.length, 2);
    assert.equal(room.participants[0].connected, false);
    await problemOf(await s.api("/api/rooms/nope"), 404, "room_not_found");
  });

  it("reports status in the room-service shape", async () => {
    const st = await (await s.api("/api/rooms/visit-1/status")).json();
    assert.equal(st.roomId, "visit-1");
    assert.equal(st.status, "waiting");
    assert.equal(st.actualStartTime, null);
    assert.equal(st.currentDuration, 0);
    assert.deepEqual(st.participants["dr-a"], { id: "dr-a", role: "host", name: "Dr A", connected: false, joinedAt: null, leftAt: null, totalDuration: 0 });
  });

  it("counts attendance across rejoins from join and leave events", async () => {
    const { roomId, sessionId } = await createRoom(s, { roomId: "attendance" });
    const bus = s.running.ctx.bus;
    const t0 = Date.now() - 60_000;
    const iso = (ms: number) => new Date(t0 + ms).toISOString();
    const base = { roomId, sessionId, participantId: "p1", role: "participant" };
    s.running.ctx.rooms.markStarted(roomId, iso(0));
    bus.emit("participant-joined", { ...base, name: "P One", transport: "ws", at: iso(0) });
    bus.emit("participant-left", { ...base, at: iso(10_000), reason: "closed", duration: 10 });
    bus.emit("participant-joined", { ...base, name: "P One", transport: "poll", at: iso(20_000) });
    bus.emit("participant-left", { ...base, at: iso(35_000), reason: "closed", duration: 15 });
    const st = await (await s.api(`/api/rooms/${roomId}/status`)).json();
    assert.equal(st.status, "active");
    assert.equal(st.actualStartTime, iso(0));
    assert.deepEqual(st.participants.p1, { id: "p1", role: "participant", name: "P One", connected: false, joinedAt: iso(0), leftAt: iso(35_000), totalDuration: 25 });
    const spans = s.running.ctx.database.sqlite.prepare("select transport, joined_at, left_at from attendance_spans where room_id = ? order by id").all(roomId);
    assert.deepEqual(spans, [
      { transport: "ws", joined_at: iso(0), left_at: iso(10_000) },
      { transport: "poll", joined_at: iso(20_000), left_at: iso(35_000) },
    ]);
  });

  it("patches the config partially", async () => {
    const res = await s.api("/api/rooms/visit-1/config", { method: "PATCH", json: { maxParticipants: 4, title: "Renamed", unknownField: 1 } });
    assert.equal(res.status, 200);
    const room = await res.json();
    assert.equal(room.maxParticipants, 4);
    assert.equal(room.title, "Renamed");
    assert.equal(room.waitingRoom, true, "untouched fields keep their value");
    const seedStyle = await (await s.api("/api/rooms/visit-1/config", { method: "PATCH", json: { features: { recording: false } } })).json();
    assert.equal(seedStyle.recording.enabled, false);
  });

  it("mints tokens for a room", async () => {
    const res = await s.api("/api/rooms/visit-1/tokens", { method: "POST", json: { name: "Interpreter", role: "participant", ttlSeconds: 600 } });
    assert.equal(res.status, 201);
    const t = await res.json();
    const claims = jwt.verify(t.token, s.jwtSecret) as jwt.JwtPayload;
    assert.equal(claims.sub, t.participantId);
    assert.equal(claims.roomId, "visit-1");
    assert.ok(Math.abs(claims.exp! - (Date.now() / 1000 + 600)) < 5);
    assert.equal(t.expiresAt, new Date(claims.exp! * 1000).toISOString());
    assert.equal(t.joinUrl, `${s.url}/join/visit-1?token=${encodeURIComponent(t.token)}`);
  });

  it("answers bulk status, naming rooms it does not know", async () => {
    const res = await s.api("/api/rooms/bulk-status", { method: "POST", json: { roomIds: ["visit-1", "to-end", "ghost"] } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      rooms: { "visit-1": { status: "waiting", participants: 0 }, "to-end": { status: "ended", participants: 0 }, ghost: { status: "not_found", participants: 0 } },
    });
  });

  it("pre-warms a room", async () => {
    const res = await s.api("/api/rooms/visit-1/pre-warm", { method: "POST", json: { scheduledStartTime: "2030-01-01T10:00:00Z" } });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.success, true);
    assert.equal(body.resourcesAllocated, true);
    const room = await (await s.api("/api/rooms/visit-1")).json();
    assert.equal(room.scheduledStartTime, "2030-01-01T10:00:00Z");
  });

  it("ends a room once; the second end is 410 and tokens are no longer minted", async () => {
    const { roomId } = await createRoom(s, { roomId: "ending" });
    s.running.ctx.rooms.markStarted(roomId, new Date(Date.now() - 5000).toISOString());
    let event: { reason: string; endedBy: string | null } | undefined;
    const off = s.running.ctx.bus.on("room-ended", (e) => (event = e));
    const res = await s.api(`/api/rooms/${roomId}/end`, { method: "POST", json: { reason: "session_completed", requestedBy: "dr-a" } });
    off();
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.success, true);
    assert.equal(body.roomId, roomId);
    assert.ok(body.finalDuration >= 4 && body.finalDuration <= 7, String(body.finalDuration));
    assert.deepEqual(event && { reason: event.reason, endedBy: event.endedBy }, { reason: "session_completed", endedBy: "dr-a" });
    await problemOf(await s.api(`/api/rooms/${roomId}/end`, { method: "POST", json: {} }), 410, "room_ended");
    await problemOf(await s.api(`/api/rooms/${roomId}/tokens`, { method: "POST", json: { name: "x" } }), 410, "room_ended");
    const audit = s.running.ctx.audit.list({ roomId }).map((a) => a.action);
    assert.deepEqual(audit, ["room.created", "room.started", "room.ended"]);
  });

  it("lets guests in only where the room allows it", async () => {
    await createRoom(s, { roomId: "guests", allowGuests: true });
    const res = await fetch(`${s.url}/api/rooms/guests/guest`, { method: "POST", body: JSON.stringify({ name: "Walk-in" }), headers: { "content-type": "application/json" } });
    assert.equal(res.status, 201);
    const claims = jwt.verify((await res.json()).token, s.jwtSecret) as jwt.JwtPayload;
    assert.equal(claims.guest, true);
    assert.equal(claims.role, "participant");
    const before = snapshot(s);
    await problemOf(await fetch(`${s.url}/api/rooms/visit-1/guest`, { method: "POST", body: JSON.stringify({ name: "x" }) }), 403, "guests_not_allowed");
    await problemOf(await fetch(`${s.url}/api/rooms/guests/guest`, { method: "POST", body: JSON.stringify({ name: "" }) }), 400, "invalid_body");
    assert.equal(snapshot(s), before);
  });

  describe("every management endpoint refuses a missing or wrong key, and bad bodies change nothing", () => {
    const endpoints: [string, string, unknown][] = [
      ["POST", "/api/rooms", { maxParticipants: "eight" }],
      ["GET", "/api/rooms", undefined],
      ["GET", "/api/rooms/visit-1", undefined],
      ["GET", "/api/rooms/visit-1/status", undefined],
      ["POST", "/api/rooms/visit-1/end", { reason: 42 }],
      ["PATCH", "/api/rooms/visit-1/config", { maxParticipants: 1000 }],
      ["POST", "/api/rooms/visit-1/tokens", { role: "host" }],
      ["POST", "/api/rooms/bulk-status", { roomIds: "visit-1" }],
      ["POST", "/api/rooms/visit-1/pre-warm", { scheduledStartTime: "tomorrow" }],
      ["POST", "/api/rooms/create", { participants: {} }],
    ];
    for (const [method, path, bad] of endpoints) {
      it(`${method} ${path}`, async () => {
        const before = snapshot(s);
        const body = bad === undefined ? undefined : JSON.stringify(bad);
        await problemOf(await fetch(s.url + path, { method, body }), 401, "unauthorized");
        await problemOf(await fetch(s.url + path, { method, body, headers: { authorization: "Bearer wrong-key" } }), 401, "unauthorized");
        if (bad !== undefined) {
          await problemOf(await s.api(path, { method, json: bad }), 400, "invalid_body");
          await problemOf(await s.api(path, { method, body: "{not json", headers: { "content-type": "application/json" } }), 400, "invalid_json");
        }
        assert.equal(snapshot(s), before);
      });
    }
  });

  it("answers an oversized body with 413 problem+json", async () => {
    const before = snapshot(s);
    const huge = JSON.stringify({ title: "x".repeat(2 * 1024 * 1024) });
    await problemOf(await s.api("/api/rooms", { method: "POST", body: huge, headers: { "content-type": "application/json" } }), 413, "body_too_large");
    assert.equal(snapshot(s), before);
  });

  it("rejects ids with characters that would break links", async () => {
    await problemOf(await s.api("/api/rooms", { method: "POST", json: { roomId: "a/b?c" } }), 400, "invalid_body");
  });
});

describe("maxDuration", () => {
  it("ends an active room that ran past its maxDuration, and only that one", async () => {
    const { endOverdueRooms } = await import("../src/server.js");
    const s = await startTestServer();
    try {
      await createRoom(s, { roomId: "long", maxDuration: 60 });
      await createRoom(s, { roomId: "fresh", maxDuration: 60 });
      await createRoom(s, { roomId: "unbounded" });
      const rooms = s.running.ctx.rooms;
      rooms.markStarted("long", new Date(Date.now() - 61_000).toISOString());
      rooms.markStarted("fresh", new Date(Date.now() - 30_000).toISOString());
      rooms.markStarted("unbounded", new Date(Date.now() - 86_400_000).toISOString());
      assert.deepEqual(endOverdueRooms(s.running.ctx), ["long"]);
      const st = await (await s.api("/api/rooms/long")).json();
      assert.equal(st.status, "ended");
      assert.equal(st.endReason, "timeout");
      assert.equal((await (await s.api("/api/rooms/fresh")).json()).status, "active");
      assert.equal((await (await s.api("/api/rooms/unbounded")).json()).status, "active");
    } finally {
      await s.close();
    }
  });
});
