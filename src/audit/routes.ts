import { Hono } from "hono";
import { z } from "zod";
import { requireApiKey } from "../auth/apiKey.js";
import type { AppContext } from "../context.js";
import { defineRoute } from "../http/route.js";
import type { Capability } from "../server.js";

const isoDate = z.iso.datetime({ offset: true, message: "must be an ISO-8601 date-time" });
export const auditQuery = z.object({
  roomId: z.string().min(1).max(128).optional(),
  from: isoDate.optional(),
  to: isoDate.optional(),
  action: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(1000),
});

const entry = z.object({ id: z.number(), at: z.string(), roomId: z.string().nullable(), actor: z.string(), action: z.string(), detail: z.record(z.string(), z.unknown()).nullable() });

// Stored times are UTC with milliseconds; compare in that form so "+02:00" filters work too.
const utc = (s: string | undefined) => (s ? new Date(s).toISOString() : undefined);

function auditRoutes(ctx: AppContext): Hono {
  const app = new Hono();
  defineRoute(
    app,
    {
      method: "get",
      path: "/api/audit",
      summary: "The append-only audit log (joins, admits, denials, removals, consents, recordings, downloads, invites), oldest first",
      tag: "Audit",
      auth: "apiKey",
      middleware: [requireApiKey(ctx.config.apiKey)],
      query: auditQuery,
      responses: { 200: { description: "Entries", schema: z.object({ entries: z.array(entry) }) } },
    },
    (c, { query }) => c.json({ entries: ctx.audit.list({ ...query, from: utc(query.from), to: utc(query.to) }) }),
  );
  return app;
}

export function auditCapability(_ctx: AppContext): Capability {
  return { name: "audit", routes: auditRoutes };
}
