import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { Peer, sleep } from "./helpers/signaling.js";
import { createRoom, startTestServer, type TestServer } from "./helpers/server.js";

interface EventFrame {
  type: string;
  data: Record<string, any>;
  receivedAt: number;
}

/** The main app's side: a subscriber of /events/:roomId that keeps every frame. */
async function subscribe(s: TestServer, roomId: string, key = s.apiKey) {
  const frames: EventFrame[] = [];
  const ws = new WebSocket(`${s.wsUrl}/events/${roomId}?token=${encodeURIComponent(key)}`);
  ws.on("message", (d) => frames.push({ ...JSON.parse(String(d)), receivedAt: Date.now() }));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once("error", reject);
  });
  const until = async (pred: (f: EventFrame) => boolean, ms = 10_000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const f = frames.find(pred);
      if (f) return f;
      await sleep(20);
    }
    throw new Error(`no such frame; got ${frames.map((f) => f.type).join(",")}`);
  };
  await until((f) => f.type === "subscribed");
  return { ws, frames, until };
}

const refusal = (url: string) =>
  new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once("unexpected-response", (_req, res) => resolve(res.statusCode!));
    ws.once("open", () => reject(new Error("upgraded")));
    ws.once("error", () => {});
  });

describe("/events for the main app, during a real call over signaling", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it("refuses a subscriber without the API key with a real HTTP 401, and unknown rooms with 404", async () => {
    const room = await createRoom(s);
    assert.equal(await refusal(`${s.wsUrl}/events/${room.roomId}`), 401);
    assert.equal(await refusal(`${s.wsUrl}/events/${room.roomId}?token=wrong-key-wrong-key`), 401);
    assert.equal(await refusal(`${s.wsUrl}/events/no-such-room?token=${s.apiKey}`), 404);
    const plain = await fetch(`${s.url}/events/${room.roomId}?token=${s.apiKey}`);
    assert.equal(plain.status, 426);
    // The main app's developers find the socket where they find everything else.
    const doc = await (await fetch(`${s.url}/openapi.json`)).json();
    const op = doc.paths["/events/{roomId}"]?.get;
    assert.ok(op, "/events/{roomId} is in the OpenAPI document");
    assert.ok(op.responses["101"] && op.responses["401"] && op.responses["426"]);
    assert.ok(op.parameters.some((p: { name: string; in: string }) => p.name === "roomId" && p.in === "path"));
  });

  it("streams joined/left/ended in order, and the summary matches what happened (±1 s)", async () => {
    const room = await createRoom(s, {
      title: "Scripted visit",
      hostRoles: ["coach"],
      participants: [
        { id: "coach-1", name: "Dr Coach", role: "coach" },
        { id: "client-1", name: "Cleo Client", role: "client" },
      ],
    });
    const [coach, client] = room.participants;
    const events = await subscribe(s, room.roomId);

    const early = await s.api(`/api/rooms/${room.roomId}/summary`);
    assert.equal(early.status, 409);
    assert.equal((await early.json()).code, "not_ready");

    const tCoachIn = Date.now();
    const host = await Peer.join(s, coach!.token);
    let c = await Peer.join(s, client!.token);
    const tClientIn1 = Date.now();
    c.send({ type: "chat", data: { text: "hello" } });
    c.send({ type: "stats", data: { rttMs: 40, lossPct: 0.5, bitrateOut: 800_000, bitrateIn: 900_000, talkMs: 1200 } });
    host.send({ type: "stats", data: { rttMs: 60, lossPct: 1.5, bitrateOut: 1_200_000, bitrateIn: 700_000, talkMs: 3000, relay: true } });
    await sleep(1500);
    c.send({ type: "leave" });
    await c.closed;
    const tClientOut1 = Date.now();
    await sleep(1000);
    c = await Peer.join(s, client!.token);
    const tClientIn2 = Date.now();
    await sleep(1000);
    c.close();
    await c.closed;
    const tClientOut2 = Date.now();
    await events.until((f) => f.type === "participant-left" && f.data.participantId === "client-1" && events.frames.filter((g) => g.type === "participant-left").length >= 2);
    await sleep(500);
    const end = await s.api(`/api/rooms/${room.roomId}/end`, { method: "POST", json: { reason: "session_completed", requestedBy: "coach-1" } });
    assert.equal(end.status, 200);
    const tEnd = Date.now();
    await host.closed;
    await events.until((f) => f.type === "summary-ready");

    const seq = events.frames
      .filter((f) => ["participant-joined", "participant-left", "room-ended", "summary-ready"].includes(f.type))
      .filter((f) => f.type !== "participant-left" || f.data.participantId === "client-1")
      .map((f) => `${f.type}${f.data.participantId ? ":" + f.data.participantId : ""}`);
    assert.deepEqual(seq, [
      "participant-joined:coach-1",
      "participant-joined:client-1",
      "participant-left:client-1",
      "participant-joined:client-1",
      "participant-left:client-1",
      "room-ended",
      "summary-ready",
    ]);
    const started = events.frames.find((f) => f.type === "room-started");
    assert.ok(started, "room-started was sent");
    assert.ok(events.frames.indexOf(started) < events.frames.findIndex((f) => f.type === "room-ended"));
    const joined = events.frames.find((f) => f.type === "participant-joined" && f.data.participantId === "client-1")!;
    assert.equal(joined.data.roomId, room.roomId);
    assert.equal(joined.data.participantType, "client");
    assert.ok(!Number.isNaN(Date.parse(joined.data.timestamp)));
    const left = events.frames.find((f) => f.type === "participant-left")!;
    assert.ok(Math.abs(left.data.duration - (tClientOut1 - tClientIn1) / 1000) <= 1, `left.duration ${left.data.duration}`);
    const ended = events.frames.find((f) => f.type === "room-ended")!;
    assert.equal(ended.data.reason, "session_completed");
    assert.ok(events.frames.every((f) => f.type !== "chat" && f.type !== "stats"), "chat and stats are never published");

    const res = await s.api(`/api/rooms/${room.roomId}/summary`);
    assert.equal(res.status, 200);
    const sum = await res.json();
    assert.equal(sum.roomId, room.roomId);
    assert.equal(sum.summary.textSummary, null);
    assert.equal(sum.summary.keyTopics, null);
    assert.equal(sum.summary.actionItems, null);
    assert.equal(sum.summary.sentiment, null);
    assert.equal(sum.summary.transcriptionAvailable, false);
    const clientSeconds = (tClientOut1 - tClientIn1 + tClientOut2 - tClientIn2) / 1000;
    const coachSeconds = (tEnd - tCoachIn) / 1000;
    assert.equal(sum.attendance["client-1"].attended, true);
    assert.equal(sum.attendance["client-1"].joins, 2);
    assert.ok(Math.abs(sum.attendance["client-1"].duration - clientSeconds) <= 1, `client ${sum.attendance["client-1"].duration} vs ${clientSeconds}`);
    assert.ok(Math.abs(sum.attendance["coach-1"].duration - coachSeconds) <= 1, `coach ${sum.attendance["coach-1"].duration} vs ${coachSeconds}`);
    assert.ok(Math.abs(Date.parse(sum.attendance["coach-1"].leaveTime) - tEnd) <= 1000);
    assert.equal(sum.attendanceByRole.coach.duration, sum.attendance["coach-1"].duration);
    assert.deepEqual(sum.summary.participantStats["client-1"], { talkTime: 1, talkPercentage: 28.6 });
    assert.deepEqual(sum.summary.participantStats["coach-1"], { talkTime: 3, talkPercentage: 71.4 });
    assert.equal(sum.chat.messages, 1);
    assert.deepEqual(sum.recordings, []);
    assert.ok(Math.abs(sum.session.duration - ended.data.finalDuration) <= 1);

    const analytics = await (await s.api(`/api/rooms/${room.roomId}/analytics`)).json();
    assert.equal(analytics.metrics.connectionQuality["client-1"].averageRTT, 40);
    assert.equal(analytics.metrics.connectionQuality["coach-1"].packetLoss, 1.5);
    assert.equal(analytics.metrics.bandwidth.peakUpload, 1_200_000);
    assert.equal(analytics.metrics.bandwidth.peakDownload, 900_000);
    assert.equal(analytics.metrics.rtt.p95, 60);
    assert.equal(analytics.metrics.reconnections, 1);
    assert.deepEqual(analytics.metrics.fallbacksUsed, ["TURN"]);
    events.ws.close();
  });

  it("analytics has nulls, not guesses, for a room nobody reported on", async () => {
    const room = await createRoom(s);
    const a = await (await s.api(`/api/rooms/${room.roomId}/analytics`)).json();
    assert.deepEqual(a.metrics.bandwidth, { peakUpload: null, peakDownload: null, averageUpload: null, averageDownload: null });
    assert.equal(a.metrics.rtt.p50, null);
    assert.deepEqual(a.metrics.connectionQuality, {});
  });
});
