import { createHmac } from "node:crypto";
import type { TestServer } from "./server.js";
import { waitUntil } from "./wait.js";

/** Zoom credentials the RTMS suites configure (test values, not real ones). */
export const ZOOM_ENV = {
  ZOOM_WEBHOOK_SECRET: "zoom-webhook-secret-for-tests",
  ZOOM_CLIENT_ID: "zoomClientIdForTests",
  ZOOM_CLIENT_SECRET: "zoom-client-secret-for-tests",
};

/**
 * POSTs a body to /webhooks/zoom signed the way Zoom documents it:
 * x-zm-signature = "v0=" + hex HMAC-SHA256(secret, "v0:" + timestamp + ":" + body).
 */
export function postZoom(
  s: TestServer,
  body: unknown,
  opts: { secret?: string; timestamp?: string; signature?: string | null; headers?: Record<string, string> } = {},
): Promise<Response> {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  const timestamp = opts.timestamp ?? String(Math.floor(Date.now() / 1000));
  const signature =
    opts.signature === undefined ? "v0=" + createHmac("sha256", opts.secret ?? ZOOM_ENV.ZOOM_WEBHOOK_SECRET).update(`v0:${timestamp}:${raw}`).digest("hex") : opts.signature;
  const headers: Record<string, string> = { "content-type": "application/json", "x-zm-request-timestamp": timestamp, ...opts.headers };
  if (signature !== null) headers["x-zm-signature"] = signature;
  return fetch(`${s.url}/webhooks/zoom`, { method: "POST", headers, body: raw });
}

export function meetingStarted(meetingUuid: string, streamId: string, extra: Record<string, unknown> = {}) {
  return {
    event: "meeting.rtms_started",
    event_ts: Date.now(),
    payload: { meeting_uuid: meetingUuid, rtms_stream_id: streamId, server_urls: "wss://rtms.example.zoom.us", operator_id: "op-1", ...extra },
  };
}

export function meetingStopped(meetingUuid: string, streamId: string) {
  return { event: "meeting.rtms_stopped", event_ts: Date.now(), payload: { meeting_uuid: meetingUuid, rtms_stream_id: streamId } };
}

/** Row counts of everything a Zoom webhook may write. */
export function zoomTables(s: TestServer) {
  const count = (table: string) => (s.running.ctx.database.sqlite.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n;
  return { zoomEvents: count("zoom_events"), streams: count("rtms_streams"), rooms: count("rooms"), segments: count("transcript_segments") };
}

export function streamRow(s: TestServer, streamId: string) {
  return s.running.ctx.database.sqlite.prepare("select * from rtms_streams where stream_id = ?").get(streamId) as
    | { stream_id: string; room_id: string; status: string; reason: string | null; audio_path: string | null; wav_path: string | null; audio_bytes: number; stopped_at: string | null }
    | undefined;
}

/** Polls until `check` returns a value (generous: the machine is shared). */
export function until<T>(check: () => T | undefined | null | false, what: string, timeoutMs = 30_000): Promise<T> {
  return waitUntil(what, check, { timeoutMs, everyMs: 25 });
}
