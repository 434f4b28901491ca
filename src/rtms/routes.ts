import { Hono } from "hono";
import { z } from "zod";
import { requireApiKey } from "../auth/apiKey.js";
import type { AppContext } from "../context.js";
import { defineRoute } from "../http/route.js";
import type { RtmsIngest } from "./ingest.js";
import { renderTranscript, roomSegments } from "./transcript.js";
import { zoomWebhookRoute } from "./webhook.js";

const transcriptionQuery = z.object({ format: z.enum(["text", "vtt", "json"]).default("text") });
const segmentView = z.object({
  streamId: z.string(),
  seq: z.number(),
  speaker: z.string().nullable(),
  startMs: z.number(),
  endMs: z.number(),
  text: z.string(),
});
const transcriptionView = z.object({
  roomId: z.string(),
  transcription: z.object({
    format: z.enum(["text", "vtt", "json"]),
    /** text and vtt: a string; json: the segments; null when no transcript was received. */
    content: z.union([z.string(), z.array(segmentView)]).nullable(),
    segments: z.number().int(),
  }),
});

export function rtmsRoutes(ctx: AppContext, ingest: RtmsIngest): Hono {
  const app = new Hono();
  zoomWebhookRoute(app, ctx, ingest);

  defineRoute(
    app,
    {
      method: "get",
      path: "/api/rooms/:roomId/transcription",
      summary:
        "Transcript of a room from Zoom RTMS: text ('[mm:ss] Speaker: text' lines), vtt (WebVTT with <v Speaker> voices) or json (segments, times in ms from the room's first stream start). content is null when none was received.",
      tag: "Rooms",
      auth: "apiKey",
      middleware: [requireApiKey(ctx.config.apiKey)],
      query: transcriptionQuery,
      responses: { 200: { description: "The transcription", schema: transcriptionView }, 404: "No such room" },
    },
    (c, { query }) => {
      const roomId = c.req.param("roomId")!;
      ctx.rooms.require(roomId);
      const segs = roomSegments(ctx.db, roomId);
      return c.json({ roomId, transcription: { format: query.format, content: renderTranscript(segs, query.format), segments: segs.length } });
    },
  );
  return app;
}
