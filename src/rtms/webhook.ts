import { inArray } from "drizzle-orm";
import type { Hono } from "hono";
import { z } from "zod";
import type { AppContext } from "../context.js";
import { zoomEvents } from "../db/schema.js";
import { HttpProblem } from "../http/problem.js";
import { defineRoute, parseWith } from "../http/route.js";
import type { RtmsIngest, StreamKind } from "./ingest.js";
import { urlValidationAnswer, verifyZoomWebhook } from "./signature.js";

const zoomId = z.string().trim().min(1).max(512);
const envelope = z.object({
  event: z.string().min(1).max(200),
  event_ts: z.number().int().nonnegative().optional(),
  payload: z.record(z.string(), z.unknown()),
});
const urlValidation = z.object({ plainToken: z.string().min(1).max(512) });
const title = { topic: z.string().max(500).optional(), object: z.object({ topic: z.string().max(500).optional() }).loose().optional() };
const meetingStream = z.object({ meeting_uuid: zoomId, rtms_stream_id: zoomId, server_urls: z.string().min(1).max(4096).optional(), ...title }).loose();
const engagementStream = z.object({ engagement_id: zoomId, rtms_stream_id: zoomId, server_urls: z.string().min(1).max(4096).optional(), ...title }).loose();

/** The events this endpoint acts on, by Zoom's names. */
const STREAM_EVENTS: Record<string, { kind: StreamKind; phase: "started" | "stopped" }> = {
  "meeting.rtms_started": { kind: "meeting", phase: "started" },
  "meeting.rtms_stopped": { kind: "meeting", phase: "stopped" },
  "contact_center.voice_rtms_started": { kind: "engagement", phase: "started" },
  "contact_center.voice_rtms_stopped": { kind: "engagement", phase: "stopped" },
};

const answer = z.object({ received: z.boolean(), duplicate: z.boolean().optional(), ignored: z.boolean().optional(), status: z.string().optional() });

/**
 * `POST /webhooks/zoom`. Every request is verified before anything else —
 * the URL validation included (an endpoint that answers an unsigned
 * challenge signs whatever a caller sends it) — and nothing is stored for a
 * request that fails verification or validation.
 */
export function zoomWebhookRoute(app: Hono, ctx: AppContext, ingest: RtmsIngest): void {
  defineRoute(
    app,
    {
      method: "post",
      path: "/webhooks/zoom",
      summary:
        "Zoom webhook: endpoint.url_validation, meeting.rtms_started/stopped, contact_center.voice_rtms_started/stopped. Signed with x-zm-signature (v0= HMAC-SHA256 of v0:{x-zm-request-timestamp}:{raw body} with ZOOM_WEBHOOK_SECRET); older than 5 minutes is refused.",
      tag: "Zoom",
      auth: "zoomSignature",
      responses: {
        200: { description: "Handled (or a duplicate delivery, ignored); for endpoint.url_validation: {plainToken, encryptedToken}", schema: answer },
        400: "Body is not a well-formed Zoom event",
        401: "Missing or wrong x-zm-signature, or a stale x-zm-request-timestamp",
        503: "ZOOM_WEBHOOK_SECRET is not configured",
      },
    },
    async (c) => {
      const secret = ctx.config.zoom.webhookSecret;
      if (!secret) throw new HttpProblem(503, "zoom_not_configured", "Set ZOOM_WEBHOOK_SECRET (the app's secret token in the Zoom Marketplace) to receive Zoom webhooks.");
      // Read once, as received: the signature covers these exact bytes.
      const raw = await c.req.text();
      const check = verifyZoomWebhook(secret, { signature: c.req.header("x-zm-signature"), timestamp: c.req.header("x-zm-request-timestamp") }, raw);
      if (!check.ok) {
        ctx.log.warn({ code: check.code }, "refused a Zoom webhook");
        throw new HttpProblem(401, check.code, check.detail);
      }
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        throw new HttpProblem(400, "invalid_json", "The request body is not valid JSON.");
      }
      const body = parseWith(envelope, json, "invalid_body", "Zoom event");

      if (body.event === "endpoint.url_validation") {
        const { plainToken } = parseWith(urlValidation, body.payload, "invalid_body", "Zoom event payload");
        return c.json(urlValidationAnswer(secret, plainToken));
      }
      const known = STREAM_EVENTS[body.event];
      // Other subscribed events are acknowledged so Zoom does not retry them, and otherwise ignored.
      if (!known) return c.json({ received: true, ignored: true });

      let p: z.output<typeof meetingStream> | z.output<typeof engagementStream>;
      let externalId: string;
      if (known.kind === "meeting") {
        const m = parseWith(meetingStream, body.payload, "invalid_body", "Zoom event payload");
        [p, externalId] = [m, m.meeting_uuid];
      } else {
        const e = parseWith(engagementStream, body.payload, "invalid_body", "Zoom event payload");
        [p, externalId] = [e, e.engagement_id];
      }
      const streamId = p.rtms_stream_id;
      if (known.phase === "started" && !p.server_urls) {
        throw new HttpProblem(400, "invalid_body", "Invalid Zoom event payload: server_urls: required for a started event");
      }

      // Zoom retries a delivery it thinks failed. The event, its stream and its
      // event_ts identify it; x-zm-trackingid, when sent, is kept as a second key.
      const tracking = c.req.header("x-zm-trackingid")?.trim().slice(0, 200);
      const eventKeys = [`${body.event}:${streamId}:${body.event_ts ?? ""}`, ...(tracking ? [`tracking:${tracking}`] : [])];
      if (ctx.db.select({ k: zoomEvents.eventKey }).from(zoomEvents).where(inArray(zoomEvents.eventKey, eventKeys)).get()) {
        return c.json({ received: true, duplicate: true });
      }

      let status: string | undefined;
      if (known.phase === "started") {
        status = ingest.started({ kind: known.kind, externalId, streamId, serverUrls: p.server_urls!, title: p.object?.topic ?? p.topic }).status;
      } else {
        status = ingest.stream(streamId)?.status;
        void ingest.stopped(streamId, body.event);
      }
      const receivedAt = new Date().toISOString();
      ctx.db.insert(zoomEvents).values(eventKeys.map((eventKey) => ({ eventKey, event: body.event, receivedAt }))).onConflictDoNothing().run();
      return c.json({ received: true, ...(status ? { status } : {}) });
    },
  );
}
