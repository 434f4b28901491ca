import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { authenticateParticipant } from "../src/auth/participant.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { RoomService } from "./helpers/seed-room-service.mjs";

describe("the room-service seed's client works unchanged against Parley", () => {
  const secret = "main-app-shared-signing-secret-0123456789";
  const apiKey = "main-app-room-service-api-key-0123456789";
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ PARLEY_JWT_SECRET: secret, PARLEY_API_KEY: apiKey });
    process.env.ROOM_SERVICE_URL = s.url;
    process.env.ROOM_SERVICE_API_KEY = apiKey;
    process.env.JWT_SIGNING_SECRET = secret;
  });
  after(() => s.close());

  it("create → status → end, with the main app's own tokens", async () => {
    const service = new RoomService();
    // Starts in 5 min + 1 s: the client's own pre-warm timer fires one second from now.
    const appointment = {
      coachId: "coach-17",
      clientId: "client-42",
      coach: { name: "Coach Carter" },
      client: { name: "Casey Client" },
      startTime: new Date(Date.now() + 5 * 60_000 + 1000).toISOString(),
      duration: 45,
      includeAI: false,
    };
    const created = await service.createRoom(appointment);
    assert.equal(created.success, true);
    assert.equal(created.status, "ready");
    assert.match(created.roomId, /^[0-9a-f-]{36}$/);
    assert.ok(created.sessionId);
    assert.ok(created.connectionUrls.coach.startsWith(`${s.url}/join/${created.roomId}?token=`));
    assert.ok(created.connectionUrls.client.startsWith(`${s.url}/join/${created.roomId}?token=`));
    assert.equal(created.connectionUrls.websocket, `${s.wsUrl}/events/${created.roomId}`);

    // The main app's coach token opens the room, as its host (the seed's coach runs the visit).
    const coachToken = new URL(created.connectionUrls.coach).searchParams.get("token")!;
    const coach = authenticateParticipant(s.running.ctx, coachToken, created.roomId);
    assert.equal(coach.participant.id, "coach-17");
    assert.equal(coach.participant.role, "host");
    assert.equal(coach.participant.roleLabel, "coach");
    assert.equal(coach.participant.name, "Coach Carter");
    const clientToken = new URL(created.connectionUrls.client).searchParams.get("token")!;
    assert.equal(authenticateParticipant(s.running.ctx, clientToken, created.roomId).participant.role, "participant");

    const status = await service.getRoomStatus(created.roomId);
    assert.equal(status.roomId, created.roomId);
    assert.equal(status.sessionId, created.sessionId);
    assert.equal(status.status, "waiting");
    assert.deepEqual(Object.keys(status.participants).sort(), ["client-42", "coach-17"]);
    assert.equal(status.participants["coach-17"].name, "Coach Carter");
    assert.equal(status.participants["coach-17"].role, "coach");
    assert.equal(status.participants["client-42"].connected, false);
    assert.equal(status.participants["client-42"].totalDuration, 0);

    const room = await (await s.api(`/api/rooms/${created.roomId}`)).json();
    assert.equal(room.maxDuration, 45 * 60);
    assert.equal(room.scheduledStartTime, appointment.startTime);

    // Give the client's pre-warm timer its second.
    await new Promise((r) => setTimeout(r, 1500));
    const warmed = s.running.ctx.rooms.get(created.roomId)!;
    assert.ok(warmed.prewarmedAt, "the seed client's pre-warm reached Parley");

    const ended = await service.endRoom(created.roomId, "coach-17");
    assert.equal(ended.success, true);
    assert.equal(ended.roomId, created.roomId);
    assert.ok(Date.parse(ended.endedAt) <= Date.now());
    assert.equal(ended.finalDuration, 0);
    const after = await service.getRoomStatus(created.roomId);
    assert.equal(after.status, "ended");
    assert.deepEqual(
      s.running.ctx.audit.list({ roomId: created.roomId, action: "room.ended" }).map((a) => [a.actor, a.detail?.reason]),
      [["coach-17", "session_completed"]],
    );
  });
});
