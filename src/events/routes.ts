import { Hono } from "hono";
import { z } from "zod";
import { requireApiKey } from "../auth/apiKey.js";
import type { AppContext } from "../context.js";
import { defineRoute } from "../http/route.js";
import type { Capability } from "../server.js";
import { PUBLIC_EVENT_TYPES, toPublicFrame } from "./frames.js";
import { EventSockets } from "./socket.js";
import { WebhookService, type AttemptRow, type DeliveryRow, type WebhookRow } from "./webhooks.js";

export const createWebhookBody = z.object({
  url: z.url({ message: "must be an absolute http(s) URL" }).max(2000).refine((u) => /^https?:\/\//i.test(u), "must start with http:// or https://"),
  events: z
    .array(z.enum([...PUBLIC_EVENT_TYPES, "*"], { message: `must be one of ${PUBLIC_EVENT_TYPES.join(", ")} or *` }))
    .min(1)
    .max(PUBLIC_EVENT_TYPES.length + 1),
  secret: z.string().min(16, "must be at least 16 characters (it signs every delivery)").max(512),
  roomId: z.string().min(1).max(128).optional(),
});

const webhookView = z.object({ id: z.string(), url: z.string(), events: z.array(z.string()), roomId: z.string().nullable(), createdAt: z.string(), deliveries: z.record(z.string(), z.number()).optional() });
const deliveryView = z.object({
  deliveryId: z.string(),
  event: z.string(),
  status: z.enum(["pending", "delivered", "failed"]),
  attempts: z.number(),
  nextAttemptAt: z.string().nullable(),
  lastStatusCode: z.number().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.string(),
  deliveredAt: z.string().nullable(),
  body: z.unknown(),
  attemptLog: z.array(z.object({ attempt: z.number(), at: z.string(), statusCode: z.number().nullable(), error: z.string().nullable(), durationMs: z.number() })),
});

// The secret is write-only: it is never returned.
const view = (w: WebhookRow, counts?: Record<string, number>) => ({ id: w.id, url: w.url, events: w.events, roomId: w.roomId, createdAt: w.createdAt, ...(counts ? { deliveries: counts } : {}) });
const deliveryOut = (d: DeliveryRow & { attemptLog: AttemptRow[] }) => ({
  deliveryId: d.id,
  event: d.event,
  status: d.status,
  attempts: d.attempts,
  nextAttemptAt: d.status === "pending" ? d.nextAttemptAt : null,
  lastStatusCode: d.lastStatusCode,
  lastError: d.lastError,
  createdAt: d.createdAt,
  deliveredAt: d.deliveredAt,
  body: JSON.parse(d.body) as unknown,
  attemptLog: d.attemptLog.map((a) => ({ attempt: a.attempt, at: a.at, statusCode: a.statusCode, error: a.error, durationMs: a.durationMs })),
});

function webhookRoutes(service: WebhookService, sockets: EventSockets) {
  return (ctx: AppContext): Hono => {
    const app = new Hono();
    const key = [requireApiKey(ctx.config.apiKey)];
    const tag = "Events";

    defineRoute(
      app,
      {
        method: "post",
        path: "/api/webhooks",
        summary: "Register a webhook: each event is POSTed as {id, type, timestamp, data}, signed X-Parley-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>",
        tag,
        auth: "apiKey",
        middleware: key,
        body: createWebhookBody,
        responses: { 201: { description: "Webhook (the secret is never returned)", schema: webhookView } },
      },
      (c, { body }) => c.json(view(service.create(body)), 201),
    );

    defineRoute(
      app,
      { method: "get", path: "/api/webhooks", summary: "Registered webhooks with delivery counts per status", tag, auth: "apiKey", middleware: key, responses: { 200: { description: "Webhooks", schema: z.object({ webhooks: z.array(webhookView) }) } } },
      (c) => {
        const hooks = service.list();
        const counts = service.counts(hooks.map((h) => h.id));
        return c.json({ webhooks: hooks.map((h) => view(h, counts[h.id] ?? {})) });
      },
    );

    defineRoute(
      app,
      { method: "delete", path: "/api/webhooks/:id", summary: "Remove a webhook (its pending deliveries are dropped)", tag, auth: "apiKey", middleware: key, responses: { 204: "Removed", 404: "No such webhook" } },
      (c) => {
        service.remove(c.req.param("id")!);
        return c.body(null, 204);
      },
    );

    defineRoute(
      app,
      {
        method: "get",
        path: "/api/webhooks/:id/deliveries",
        summary: "Delivery log of a webhook, newest first",
        tag,
        auth: "apiKey",
        middleware: key,
        query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
        responses: { 200: { description: "Deliveries", schema: z.object({ deliveries: z.array(deliveryView) }) }, 404: "No such webhook" },
      },
      (c, { query }) => c.json({ deliveries: service.deliveries(c.req.param("id")!, query.limit).map(deliveryOut) }),
    );

    app.route("/", sockets.routes());
    return app;
  };
}

/** `/events/:roomId` sockets and signed webhooks, both fed from the bus. */
export function eventsCapability(ctx: AppContext): Capability {
  const sockets = new EventSockets(ctx);
  const service = new WebhookService(ctx);
  const { Counter, Gauge, registry } = ctx.metrics;
  const attempts = new Counter({ name: "parley_webhook_attempts_total", help: "Webhook delivery attempts by result (delivered, retry, failed)", labelNames: ["result"] as const, registers: [registry] });
  service.onAttempt = (result) => attempts.inc({ result });
  new Gauge({ name: "parley_webhook_deliveries_pending", help: "Webhook deliveries waiting to be (re)sent", registers: [registry], collect() { this.set(service.pendingCount()); } });
  new Gauge({ name: "parley_event_subscribers", help: "Open /events WebSocket subscribers", registers: [registry], collect() { this.set(sockets.count()); } });
  let unsubscribe: (() => void) | undefined;
  return {
    name: "events",
    routes: webhookRoutes(service, sockets),
    start() {
      unsubscribe = ctx.bus.onAny((name, payload) => {
        const frame = toPublicFrame(name, payload);
        if (!frame) return;
        sockets.publish(frame);
        service.enqueue(frame);
      });
      sockets.start();
      service.start();
    },
    async stop() {
      unsubscribe?.();
      sockets.stop();
      await service.stop();
    },
  };
}
