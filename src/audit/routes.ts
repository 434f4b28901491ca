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
    (c, { query }) => {
      const entries = ctx.audit.list({ ...query, from: utc(query.from), to: utc(query.to) });
      // Presence rows are written a moment after they happen (batched), so order by when, then by insertion.
      entries.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id - b.id));
      return c.json({ entries });
    },
  );
  return app;
}

type Entry = Parameters<AppContext["audit"]["record"]>;

/**
 * Presence decisions that signaling announces on the bus become audit rows
 * here (removals are audited by RoomService.markRemoved, consents by the
 * session record). Rows are written together on the next turn of the event
 * loop, so a join never makes the relay wait on SQLite.
 */
function auditPresence(ctx: AppContext): () => void {
  let queue: Entry[] = [];
  const flush = () => {
    const rows = queue;
    queue = [];
    if (!rows.length || !ctx.database.sqlite.open) return;
    try {
      ctx.db.transaction(() => {
        for (const r of rows) ctx.audit.record(...r);
      });
    } catch (err) {
      ctx.log.error({ err, rows: rows.length }, "audit write failed");
    }
  };
  const push = (e: Entry) => {
    if (!queue.length) setImmediate(flush);
    queue.push(e);
  };
  const offs = [
    ctx.bus.on("participant-joined", (e) => push([e.roomId, e.participantId, "participant.joined", { role: e.roleLabel ?? e.role, name: e.name, transport: e.transport }, e.at])),
    ctx.bus.on("participant-left", (e) => push([e.roomId, e.participantId, "participant.left", { reason: e.reason, duration: e.duration }, e.at])),
    ctx.bus.on("participant-waiting", (e) => push([e.roomId, e.participantId, "participant.waiting", { name: e.name }, e.at])),
    ctx.bus.on("participant-admitted", (e) => push([e.roomId, e.by, "participant.admitted", { participantId: e.participantId }, e.at])),
    ctx.bus.on("participant-denied", (e) => push([e.roomId, e.by, "participant.denied", { participantId: e.participantId }, e.at])),
  ];
  return () => {
    for (const off of offs) off();
    flush();
  };
}

export function auditCapability(ctx: AppContext): Capability {
  let stop: (() => void) | undefined;
  return {
    name: "audit",
    routes: auditRoutes,
    start: () => {
      stop = auditPresence(ctx);
    },
    stop: () => stop?.(),
  };
}
