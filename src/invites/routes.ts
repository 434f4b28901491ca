import { createHash } from "node:crypto";
import { Hono } from "hono";
import { z } from "zod";
import { bearer, requireApiKey } from "../auth/apiKey.js";
import type { AppContext } from "../context.js";
import { defineRoute } from "../http/route.js";
import { roleSchema } from "../rooms/schemas.js";
import type { Capability } from "../server.js";
import { InviteService, type InviteRow } from "./service.js";

export const createInviteBody = z.object({
  email: z.email({ message: "must be an e-mail address" }).max(254),
  name: z.string().trim().min(1).max(120).optional(),
  role: roleSchema.default("participant"),
  message: z.string().trim().max(2000).optional(),
  sendAt: z.iso.datetime({ offset: true, message: "must be an ISO-8601 date-time" }).optional(),
});

export const inviteView = z.object({
  inviteId: z.string(),
  roomId: z.string(),
  participantId: z.string(),
  email: z.string(),
  name: z.string().nullable(),
  role: z.string(),
  joinUrl: z.string(),
  delivery: z.enum(["smtp", "outbox"]),
  status: z.enum(["scheduled", "pending", "sending", "sent", "failed"]),
  sendAt: z.string().nullable(),
  attempts: z.number(),
  nextAttemptAt: z.string().nullable(),
  lastError: z.string().nullable(),
  sentAt: z.string().nullable(),
  createdAt: z.string(),
});

const view = (r: InviteRow): z.output<typeof inviteView> => ({
  inviteId: r.id,
  roomId: r.roomId,
  participantId: r.participantId,
  email: r.email,
  name: r.name,
  role: r.role,
  joinUrl: r.joinUrl,
  delivery: r.delivery,
  status: r.status,
  sendAt: r.sendAt,
  attempts: r.attempts,
  nextAttemptAt: r.nextAttemptAt,
  lastError: r.lastError,
  sentAt: r.sentAt,
  createdAt: r.createdAt,
});

/** Rate limits count per key; only a digest of it is kept in memory. */
const keyId = (authorization: string | undefined) => createHash("sha256").update(bearer(authorization) ?? "").digest("hex").slice(0, 16);

function inviteRoutes(service: InviteService) {
  return (ctx: AppContext): Hono => {
    const app = new Hono();
    const key = [requireApiKey(ctx.config.apiKey)];
    const tag = "Invites";

    defineRoute(
      app,
      {
        method: "post",
        path: "/api/rooms/:roomId/invites",
        summary: "Invite someone by e-mail (personal link; .ics when the room is scheduled; sendAt schedules it)",
        tag,
        auth: "apiKey",
        middleware: key,
        body: createInviteBody,
        responses: {
          201: { description: "Invite created; `status` is `sent` once the first attempt succeeded, `pending` while it retries, `scheduled` until `sendAt`", schema: inviteView },
          404: "No such room",
          410: "Room ended",
          429: "rate_limited: too many invites for this room or this API key (Retry-After)",
        },
      },
      async (c, { body }) => {
        const row = await service.create(c.req.param("roomId")!, body, keyId(c.req.header("authorization")));
        return c.json(view(row), 201);
      },
    );

    defineRoute(
      app,
      {
        method: "get",
        path: "/api/rooms/:roomId/invites",
        summary: "A room's invites with their delivery status",
        tag,
        auth: "apiKey",
        middleware: key,
        responses: { 200: { description: "Invites, oldest first", schema: z.object({ invites: z.array(inviteView) }) }, 404: "No such room" },
      },
      (c) => c.json({ invites: service.list(c.req.param("roomId")!).map(view) }),
    );

    defineRoute(
      app,
      {
        method: "post",
        path: "/api/rooms/:roomId/invites/:inviteId/resend",
        summary: "Send an invite again (same personal link)",
        tag,
        auth: "apiKey",
        middleware: key,
        responses: { 200: { description: "The invite after the new attempt", schema: inviteView }, 404: "No such room or invite", 409: "invite_sending", 410: "Room ended", 429: "rate_limited" },
      },
      async (c) => c.json(view(await service.resend(c.req.param("roomId")!, c.req.param("inviteId")!, keyId(c.req.header("authorization"))))),
    );
    return app;
  };
}

/** Invites by e-mail: routes plus the due-sender that survives restarts. */
export function invitesCapability(ctx: AppContext): Capability {
  const service = new InviteService(ctx);
  const sends = new ctx.metrics.Counter({ name: "parley_invite_sends_total", help: "Invite send attempts by result (sent, retry, failed)", labelNames: ["result"] as const, registers: [ctx.metrics.registry] });
  service.onAttempt = (result) => sends.inc({ result });
  return {
    name: "invites",
    routes: inviteRoutes(service),
    start: () => service.start(),
    stop: () => service.stop(),
  };
}
