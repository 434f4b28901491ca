import { Hono } from "hono";
import { requireApiKey } from "../auth/apiKey.js";
import type { AppContext } from "../context.js";
import { defineRoute } from "../http/route.js";
import type { Capability } from "../server.js";
import { computeAnalytics } from "./analytics.js";
import { Summaries, type TranscriptStatsFn } from "./summary.js";

/** Leaves time for the last leave/stats writes queued by the end itself to land before reading. */
const SETTLE_MS = 100;

function summaryRoutes(summaries: Summaries) {
  return (ctx: AppContext): Hono => {
    const app = new Hono();
    const key = [requireApiKey(ctx.config.apiKey)];
    const tag = "Rooms";
    defineRoute(
      app,
      {
        method: "get",
        path: "/api/rooms/:roomId/summary",
        summary: "The visit's summary (room-service seed shape): attendance across rejoins, talk time, chat, recordings, transcripts; text fields are null (no AI)",
        tag,
        auth: "apiKey",
        middleware: key,
        responses: { 200: "Summary", 404: "No such room", 409: "not_ready: the room has not ended yet (use …/status and …/analytics meanwhile)" },
      },
      (c) => c.json(summaries.read(c.req.param("roomId")!)),
    );
    defineRoute(
      app,
      {
        method: "get",
        path: "/api/rooms/:roomId/analytics",
        summary: "Connection quality from client stats (RTT/loss percentiles, bandwidth, reconnections, TURN use); live while the room runs",
        tag,
        auth: "apiKey",
        middleware: key,
        responses: { 200: "Analytics", 404: "No such room" },
      },
      (c) => c.json(computeAnalytics(ctx, c.req.param("roomId")!)),
    );
    return app;
  };
}

/** Summaries made at room end (then `summary-ready`), and the summary/analytics routes. */
export function summariesCapability(ctx: AppContext): Capability {
  let transcriptStats: TranscriptStatsFn | undefined;
  const summaries = new Summaries(ctx, () => transcriptStats);
  const timers = new Set<NodeJS.Timeout>();
  let unsubscribe: (() => void) | undefined;
  const make = (roomId: string) => {
    try {
      const doc = summaries.generate(roomId);
      ctx.bus.emit("summary-ready", { roomId, sessionId: doc.sessionId, at: doc.summary.generatedAt });
    } catch (err) {
      ctx.log.error({ err, roomId }, "summary could not be made");
      ctx.bus.emit("error", { roomId, error: "summary_failed", message: "The visit summary could not be made; it will be retried at the next start.", at: new Date().toISOString() });
    }
  };
  return {
    name: "summaries",
    routes: summaryRoutes(summaries),
    async start() {
      try {
        // RTMS is optional; without it summaries simply have no transcript facts.
        transcriptStats = ((await import("../rtms/transcript.js")) as { transcriptStats?: TranscriptStatsFn }).transcriptStats;
      } catch {
        transcriptStats = undefined;
      }
      unsubscribe = ctx.bus.on("room-ended", (e) => {
        const t = setTimeout(() => {
          timers.delete(t);
          make(e.roomId);
        }, SETTLE_MS);
        timers.add(t);
      });
      for (const roomId of summaries.missing()) make(roomId);
    },
    stop() {
      unsubscribe?.();
      // Rooms whose summary was not made yet get it at the next start (`missing()`).
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
