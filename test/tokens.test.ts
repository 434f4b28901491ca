import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import jwt from "jsonwebtoken";
import { authenticateParticipant } from "../src/auth/participant.js";
import { HttpProblem } from "../src/http/problem.js";
import { createRoom, startTestServer, type TestServer } from "./helpers/server.js";

function refusal(fn: () => unknown): { status: number; code: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof HttpProblem, `expected an HttpProblem, got ${err}`);
    return { status: err.status, code: err.code };
  }
  assert.fail("the token was accepted");
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

describe("participant tokens", () => {
  let s: TestServer;
  let roomA: string;
  let roomB: string;
  before(async () => {
    s = await startTestServer();
    roomA = (await createRoom(s, { roomId: "room-a", hostRoles: ["coach"] })).roomId;
    roomB = (await createRoom(s, { roomId: "room-b" })).roomId;
  });
  after(() => s.close());
  const sign = (claims: Record<string, unknown>, secret = s.jwtSecret) => jwt.sign({ exp: Math.floor(Date.now() / 1000) + 600, ...claims }, secret, { algorithm: "HS256" });
  const auth = (token: string, room?: string) => authenticateParticipant(s.running.ctx, token, room);

  it("accepts a token minted by another app with the same secret, mapping roles", () => {
    const p = auth(sign({ userId: "u1", roomId: roomA, role: "coach", name: "C" }), roomA).participant;
    assert.deepEqual([p.id, p.role, p.roleLabel, p.name], ["u1", "host", "coach", "C"]);
    const q = auth(sign({ sub: "u2", roomId: roomB, role: "coach" }), roomB).participant;
    assert.deepEqual([q.role, q.roleLabel], ["participant", "coach"], "coach is host only where the room says so");
    assert.equal(auth(sign({ sub: "u3", roomId: roomA, role: "moderator" })).participant.role, "moderator");
  });

  it("never lets a token for room A into room B", () => {
    assert.deepEqual(refusal(() => auth(sign({ sub: "u1", roomId: roomA }), roomB)), { status: 403, code: "token_room_mismatch" });
  });

  it("refuses expired, malformed, wrong-signature and unsigned tokens", () => {
    assert.deepEqual(refusal(() => auth(sign({ sub: "u", roomId: roomA, exp: Math.floor(Date.now() / 1000) - 10 }))), { status: 401, code: "token_expired" });
    assert.deepEqual(refusal(() => auth("not.a.jwt")), { status: 401, code: "invalid_token" });
    assert.deepEqual(refusal(() => auth("")), { status: 401, code: "missing_token" });
    assert.deepEqual(refusal(() => auth(sign({ sub: "u", roomId: roomA }, "some-other-secret-of-enough-length"))), { status: 401, code: "invalid_token" });
    const none = `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "u", roomId: roomA, role: "host", exp: Math.floor(Date.now() / 1000) + 600 })}.`;
    assert.deepEqual(refusal(() => auth(none)), { status: 401, code: "invalid_token" });
    const hs512 = jwt.sign({ sub: "u", roomId: roomA, exp: Math.floor(Date.now() / 1000) + 600 }, s.jwtSecret, { algorithm: "HS512" });
    assert.deepEqual(refusal(() => auth(hs512)), { status: 401, code: "invalid_token" });
    assert.deepEqual(refusal(() => auth(sign({ roomId: roomA }))), { status: 401, code: "invalid_token" }, "no participant id");
    assert.deepEqual(refusal(() => auth(jwt.sign({ sub: "u", roomId: roomA }, s.jwtSecret))), { status: 401, code: "invalid_token" }, "no expiry");
  });

  it("refuses tokens for unknown rooms, other sessions, ended rooms and removed participants", async () => {
    assert.deepEqual(refusal(() => auth(sign({ sub: "u", roomId: "ghost" }))), { status: 404, code: "room_not_found" });
    assert.deepEqual(refusal(() => auth(sign({ sub: "u", roomId: roomA, sessionId: "old-session" }))), { status: 403, code: "token_session_mismatch" });
    s.running.ctx.rooms.markRemoved(roomA, "troll", "host-1");
    assert.deepEqual(refusal(() => auth(sign({ sub: "troll", roomId: roomA }))), { status: 403, code: "participant_removed" });
    await s.api(`/api/rooms/${roomB}/end`, { method: "POST", json: {} });
    assert.deepEqual(refusal(() => auth(sign({ sub: "u", roomId: roomB }))), { status: 410, code: "room_ended" });
  });
});
