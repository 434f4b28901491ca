import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { joinSignature } from "../src/rtms/signature.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { meetingStarted, meetingStopped, postZoom, streamRow, until, ZOOM_ENV, zoomTables } from "./helpers/rtms-zoom.js";

describe("Zoom webhook", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer(ZOOM_ENV);
  });
  after(() => s.close());

  it("answers the URL validation with the HMAC of plainToken", async () => {
    const plainToken = "qgg8vlvZRS6UYooatFL8Aw";
    const res = await postZoom(s, { event: "endpoint.url_validation", event_ts: Date.now(), payload: { plainToken } });
    assert.equal(res.status, 200);
    const expected = createHmac("sha256", ZOOM_ENV.ZOOM_WEBHOOK_SECRET).update(plainToken).digest("hex");
    assert.deepEqual(await res.json(), { plainToken, encryptedToken: expected });
  });

  it("refuses an unsigned URL validation with 401 (it would sign whatever a caller sends)", async () => {
    const res = await postZoom(s, { event: "endpoint.url_validation", payload: { plainToken: "abc" } }, { signature: null });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    const body = await res.json();
    assert.equal(body.code, "invalid_signature");
    assert.equal(body.encryptedToken, undefined);
  });

  it("refuses a body signed with another secret, and stores nothing", async () => {
    const before = zoomTables(s);
    const res = await postZoom(s, meetingStarted("badSigMeeting==", "bad-sig-stream"), { secret: "not-the-zoom-secret" });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).code, "invalid_signature");
    assert.deepEqual(zoomTables(s), before);
  });

  it("refuses a signature over a different body (tampered payload)", async () => {
    const body = JSON.stringify(meetingStarted("tamperMeeting", "tamper-stream"));
    const ts = String(Math.floor(Date.now() / 1000));
    const sig = "v0=" + createHmac("sha256", ZOOM_ENV.ZOOM_WEBHOOK_SECRET).update(`v0:${ts}:${body}`).digest("hex");
    const tampered = body.replace("tamper-stream", "other-stream");
    const res = await postZoom(s, tampered, { timestamp: ts, signature: sig });
    assert.equal(res.status, 401);
    assert.equal(streamRow(s, "other-stream"), undefined);
  });

  it("refuses stale and far-future timestamps even when correctly signed", async () => {
    const before = zoomTables(s);
    const old = String(Math.floor(Date.now() / 1000) - 6 * 60);
    const r1 = await postZoom(s, meetingStarted("staleMeeting", "stale-stream"), { timestamp: old });
    assert.equal(r1.status, 401);
    assert.equal((await r1.json()).code, "stale_timestamp");
    const future = String(Math.floor(Date.now() / 1000) + 6 * 60);
    const r2 = await postZoom(s, meetingStarted("staleMeeting", "stale-stream"), { timestamp: future });
    assert.equal(r2.status, 401);
    assert.equal((await r2.json()).code, "stale_timestamp");
    assert.deepEqual(zoomTables(s), before);
  });

  it("answers malformed bodies with 400 and stores nothing", async () => {
    const before = zoomTables(s);
    const bad: unknown[] = [
      "{not json",
      "[]",
      { event: "meeting.rtms_started" },
      { event: "meeting.rtms_started", payload: { rtms_stream_id: "s-1", server_urls: "wss://x" } },
      { event: "meeting.rtms_started", payload: { meeting_uuid: "m-1", rtms_stream_id: "s-1" } },
      { event: "meeting.rtms_started", payload: { meeting_uuid: 42, rtms_stream_id: "s-1", server_urls: "wss://x" } },
      { event: "contact_center.voice_rtms_started", payload: { meeting_uuid: "m-1", rtms_stream_id: "s-1", server_urls: "wss://x" } },
      { event: "endpoint.url_validation", payload: {} },
    ];
    for (const body of bad) {
      const res = await postZoom(s, body);
      assert.equal(res.status, 400, `expected 400 for ${JSON.stringify(body)}`);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      assert.match((await res.json()).code, /^invalid_(json|body)$/);
    }
    assert.deepEqual(zoomTables(s), before);
  });

  it("creates the meeting's room and stream on rtms_started, and ignores a duplicate delivery", async () => {
    const event = meetingStarted("dupMeeting+/A==", "dup-stream", { object: { topic: "Weekly coaching" } });
    const r1 = await postZoom(s, event, { headers: { "x-zm-trackingid": "track-1" } });
    assert.equal(r1.status, 200);
    const row = streamRow(s, "dup-stream")!;
    assert.equal(row.room_id, "zoom-dupMeeting-_A");
    const room = await (await s.api(`/api/rooms/${row.room_id}`)).json();
    assert.equal(room.title, "Weekly coaching");
    assert.equal(room.status, "active");
    const after1 = zoomTables(s);

    const r2 = await postZoom(s, event, { headers: { "x-zm-trackingid": "track-1" } });
    assert.equal(r2.status, 200);
    assert.equal((await r2.json()).duplicate, true);
    // Without a tracking id, event + stream + event_ts identify the delivery.
    const r3 = await postZoom(s, { ...event, payload: { ...event.payload } });
    assert.equal(r3.status, 200);
    const r4 = await postZoom(s, event);
    assert.equal((await r4.json()).duplicate, true);
    const after2 = zoomTables(s);
    assert.equal(after2.streams, after1.streams);
    assert.equal(after2.rooms, after1.rooms);
  });

  it("is described in /openapi.json with the transcription route", async () => {
    const doc = await (await fetch(`${s.url}/openapi.json`)).json();
    assert.deepEqual(Object.keys(doc.paths["/webhooks/zoom"].post.responses).sort(), ["200", "400", "401", "503", "default"]);
    const format = doc.paths["/api/rooms/{roomId}/transcription"].get.parameters.find((p: { name: string }) => p.name === "format");
    assert.deepEqual(format.schema.enum, ["text", "vtt", "json"]);
  });

  it("acknowledges events it does not handle without storing them", async () => {
    const before = zoomTables(s);
    const res = await postZoom(s, { event: "meeting.participant_joined", event_ts: Date.now(), payload: { object: {} } });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).ignored, true);
    assert.deepEqual(zoomTables(s), before);
  });

  it("maps a contact-center engagement to its own room and ends it when the stream stops", async () => {
    const start = { event: "contact_center.voice_rtms_started", event_ts: Date.now(), payload: { engagement_id: "eng_42", rtms_stream_id: "cc-stream", server_urls: "wss://zcc" } };
    assert.equal((await postZoom(s, start)).status, 200);
    const row = streamRow(s, "cc-stream")!;
    assert.equal(row.room_id, "zoom-cc.eng_42");
    const stop = { event: "contact_center.voice_rtms_stopped", event_ts: Date.now(), payload: { engagement_id: "eng_42", rtms_stream_id: "cc-stream" } };
    assert.equal((await postZoom(s, stop)).status, 200);
    await until(() => streamRow(s, "cc-stream")?.stopped_at, "stream stopped");
    const status = await (await s.api(`/api/rooms/zoom-cc.eng_42/status`)).json();
    assert.equal(status.status, "ended");
  });

  it("keeps a meeting's room open until its last stream stops", async () => {
    const m = "twoStreamMeeting";
    await postZoom(s, meetingStarted(m, "two-a"));
    await postZoom(s, meetingStarted(m, "two-b"));
    assert.equal(streamRow(s, "two-a")!.room_id, streamRow(s, "two-b")!.room_id);
    await postZoom(s, meetingStopped(m, "two-a"));
    await until(() => streamRow(s, "two-a")?.stopped_at, "first stream stopped");
    assert.equal((await (await s.api(`/api/rooms/zoom-${m}/status`)).json()).status, "active");
    await postZoom(s, meetingStopped(m, "two-b"));
    await until(() => streamRow(s, "two-b")?.stopped_at, "second stream stopped");
    const room = await (await s.api(`/api/rooms/zoom-${m}`)).json();
    assert.equal(room.status, "ended");
    assert.equal(room.endReason, "zoom_stream_stopped");
  });
});

describe("Zoom webhook without a secret", () => {
  it("answers 503 zoom_not_configured and stores nothing", async () => {
    const s = await startTestServer({ ZOOM_CLIENT_ID: ZOOM_ENV.ZOOM_CLIENT_ID });
    try {
      const res = await postZoom(s, meetingStarted("m", "s"));
      assert.equal(res.status, 503);
      assert.equal((await res.json()).code, "zoom_not_configured");
      assert.deepEqual(zoomTables(s), { zoomEvents: 0, streams: 0, rooms: 0, segments: 0 });
    } finally {
      await s.close();
    }
  });
});

describe("RTMS join signature", () => {
  it("is hex HMAC-SHA256(client_secret, client_id,meeting_uuid,stream_id)", () => {
    const [clientId, secret, meeting, stream] = ["yourClientId", "yourClientSecret", "4444AAAiAAAAAiAiAiiAii==", "03db704592624398931a588dd78200cb"];
    const expected = createHmac("sha256", secret).update(`${clientId},${meeting},${stream}`).digest("hex");
    assert.equal(joinSignature(clientId, secret, meeting, stream), expected);
    assert.match(expected, /^[0-9a-f]{64}$/);
    // The order of the parts matters: a swapped id does not verify.
    assert.notEqual(joinSignature(clientId, secret, stream, meeting), expected);
  });
});
