import { createReadStream, statSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { Hono, type Context } from "hono";
import { z } from "zod";
import { requireApiKey } from "../auth/apiKey.js";
import { requireParticipant } from "../auth/participant.js";
import type { AppContext } from "../context.js";
import { HttpProblem, problem } from "../http/problem.js";
import { defineRoute } from "../http/route.js";
import { actorOf, apiKeyOr, credential, hostOfRoom, participantOf } from "./access.js";
import { MAX_CHUNK_BYTES, MAX_CHUNK_INDEX } from "./limits.js";
import { completeRecordingBody, recordingView, startRecordingBody, storageStats } from "./schemas.js";
import type { RecordingRow, RecordingService } from "./service.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SHA256_HEX = /^[0-9a-f]{64}$/i;

export function recordingRoutes(svc: RecordingService, uploads: { chunks: { inc(labels: { result: string }): void }; bytes: { inc(n: number): void } }) {
  return (ctx: AppContext): Hono => {
    const app = new Hono();
    const tag = "Recordings";

    const recordingOf = (c: Context): RecordingRow => {
      const id = c.req.param("id")!;
      if (!UUID.test(id)) throw new HttpProblem(400, "invalid_recording_id", "A recording id is a UUID.");
      return svc.require(id);
    };
    /** Only the participant who started a recording uploads to it. */
    const owner = (c: Context, rec: RecordingRow) => {
      const p = participantOf(ctx, credential(c), rec.roomId);
      if (p.id !== rec.participantId) throw new HttpProblem(403, "not_owner", "Only the participant who started this recording can upload to it.");
      return p;
    };
    defineRoute(
      app,
      {
        method: "get",
        path: "/api/recordings/stats/storage",
        summary: "Storage used by recordings, by status, and free disk space",
        tag,
        auth: "apiKey",
        middleware: [requireApiKey(ctx.config.apiKey)],
        responses: { 200: { description: "Storage figures", schema: storageStats } },
      },
      async (c) => c.json(await svc.storage()),
    );

    defineRoute(
      app,
      {
        method: "post",
        path: "/api/recordings",
        summary: "Start a recording (needs everyone's consent when the room requires it)",
        tag,
        auth: "participant",
        middleware: [requireParticipant(ctx)],
        body: startRecordingBody,
        responses: {
          201: { description: "Started: upload chunks to /api/recordings/{id}/chunks/{index}", schema: z.object({ recordingId: z.string() }) },
          403: "Recording disabled for the room (`recording_disabled`), composite by a non-host (`host_required`), still in the lobby (`not_admitted`)",
          409: "`consent_required`: someone present has not consented; `missing` lists them",
        },
      },
      (c, { body }) => c.json(svc.start(c.get("participant"), c.get("room"), body), 201),
    );

    defineRoute(
      app,
      {
        method: "put",
        path: "/api/recordings/:id/chunks/:index",
        summary: `Upload one chunk (raw bytes, at most ${MAX_CHUNK_BYTES} bytes; optional X-Chunk-Sha256 hex header). Idempotent per index.`,
        tag,
        auth: "participant",
        responses: {
          201: "Stored",
          200: "Already stored with the same bytes (nothing changed)",
          400: "Bad id or index (`invalid_recording_id`, `invalid_index`), empty or interrupted body, `checksum_mismatch`",
          403: "`not_owner`: only the participant who started the recording uploads",
          409: "`chunk_conflict`: this index was stored with different bytes; `recording_closed`",
          413: "`chunk_too_large` or `recording_too_large`",
        },
      },
      async (c) => {
        const raw = c.req.param("index")!;
        const index = /^\d{1,6}$/.test(raw) ? Number(raw) : NaN;
        const rec = recordingOf(c);
        if (!(index >= 0 && index <= MAX_CHUNK_INDEX)) throw new HttpProblem(400, "invalid_index", `A chunk index is an integer from 0 to ${MAX_CHUNK_INDEX}.`);
        // The full check on every chunk (about 55 µs): a removed participant or an expired token stops uploading at once.
        owner(c, rec);
        const checksum = c.req.header("x-chunk-sha256")?.trim().toLowerCase();
        if (checksum !== undefined && !SHA256_HEX.test(checksum)) throw new HttpProblem(400, "invalid_checksum", "X-Chunk-Sha256 must be the hex SHA-256 of the chunk (64 characters).");
        const lengthHeader = c.req.header("content-length");
        const contentLength = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
        try {
          const r = await svc.putChunk(rec, index, bodyStream(c), contentLength, checksum);
          uploads.chunks.inc({ result: r.created ? "stored" : "duplicate" });
          if (r.created) uploads.bytes.inc(r.sizeBytes);
          return c.json({ index: r.index, sizeBytes: r.sizeBytes, sha256: r.sha256, duplicate: !r.created }, r.created ? 201 : 200);
        } catch (err) {
          uploads.chunks.inc({ result: err instanceof HttpProblem ? err.code : "error" });
          // The rest of an oversize body is never read: close the connection after the answer instead of reusing it.
          if (err instanceof HttpProblem && err.status === 413) {
            c.header("connection", "close");
            return problem(c, err);
          }
          throw err;
        }
      },
    );

    defineRoute(
      app,
      {
        method: "get",
        path: "/api/recordings/:id/upload",
        summary: "Which chunk indexes arrived (to resume an upload after a reload or crash)",
        tag,
        auth: "participant",
        responses: {
          200: {
            description: "Received indexes; `consented`: who in the room's session has consented (a composite recorder includes only them)",
            schema: z.object({ recordingId: z.string(), status: z.string(), received: z.array(z.number()), consented: z.array(z.string()) }),
          },
        },
      },
      (c) => {
        const rec = recordingOf(c);
        owner(c, rec);
        const room = ctx.rooms.get(rec.roomId);
        return c.json({ recordingId: rec.id, status: rec.status, received: svc.received(rec.id), consented: room ? svc.consented(room) : [] });
      },
    );

    defineRoute(
      app,
      {
        method: "post",
        path: "/api/recordings/:id/complete",
        summary: "Finish the upload; processing (concatenate, remux, probe, optional MP4) runs in the background",
        tag,
        auth: "participant",
        body: completeRecordingBody,
        responses: { 202: { description: "Accepted for processing", schema: recordingView }, 409: "`chunks_missing` lists the indexes still missing" },
      },
      (c, { body }) => {
        const rec = recordingOf(c);
        const p = owner(c, rec);
        return c.json(svc.view(svc.complete(rec, body.chunks, body.mp4, p.id)), 202);
      },
    );

    defineRoute(
      app,
      {
        method: "get",
        path: "/api/recordings/:id",
        summary: "A recording's metadata and status",
        tag,
        auth: "apiKeyOrHost",
        responses: { 200: { description: "The recording", schema: recordingView } },
      },
      (c) => {
        const rec = recordingOf(c);
        apiKeyOr(ctx, c, rec.roomId, (p) => hostOfRoom(p) || p.id === rec.participantId, "Only hosts of the room and the recording's author can see it.");
        return c.json(svc.view(rec));
      },
    );

    defineRoute(
      app,
      {
        method: "get",
        path: "/api/recordings/:id/file",
        summary: "Download the recording (Range supported; `?format=mp4` for the MP4 copy). API key or a host token of the room.",
        tag,
        auth: "apiKeyOrHost",
        query: z.object({ format: z.enum(["original", "mp4"]).default("original"), token: z.string().optional() }),
        responses: { 200: "The whole file", 206: "The requested byte range", 404: "`file_not_ready`", 416: "Range not satisfiable" },
      },
      (c, { query }) => {
        const rec = recordingOf(c);
        const caller = apiKeyOr(ctx, c, rec.roomId, hostOfRoom, "Only hosts and moderators of this room can download its recordings.");
        const path = query.format === "mp4" ? rec.mp4Path : rec.filePath;
        if (!path) throw new HttpProblem(404, "file_not_ready", query.format === "mp4" ? "No MP4 copy of this recording exists (ask for one with `mp4: true` on complete)." : `The recording is ${rec.status}; its file is not ready yet.`);
        let size: number;
        try {
          size = statSync(path).size;
        } catch {
          throw new HttpProblem(404, "file_missing", "The recording's file is missing from the data directory.");
        }
        const ext = query.format === "mp4" || path.endsWith(".mp4") ? "mp4" : path.endsWith(".mkv") ? "mkv" : path.endsWith(".ogg") ? "ogg" : "webm";
        const type = contentType(ext, rec);
        const range = parseRange(c.req.header("range"), size);
        const headers: Record<string, string> = {
          "content-type": type,
          "accept-ranges": "bytes",
          "content-disposition": `attachment; filename="${fileName(rec, ext)}"`,
          "cache-control": "private, no-store",
          etag: `"${rec.id}-${size}"`,
        };
        if (range === "unsatisfiable") {
          return c.body(null, 416, { "content-range": `bytes */${size}`, "accept-ranges": "bytes" });
        }
        ctx.audit.record(rec.roomId, actorOf(caller), "recording.downloaded", { recordingId: rec.id, format: ext, range: c.req.header("range") ?? null });
        const [start, end] = range ?? [0, size - 1];
        headers["content-length"] = String(size === 0 ? 0 : end - start + 1);
        if (range) headers["content-range"] = `bytes ${start}-${end}/${size}`;
        if (size === 0) return c.body(null, 200, headers);
        return c.body(Readable.toWeb(createReadStream(path, { start, end })) as unknown as ReadableStream, range ? 206 : 200, headers);
      },
    );

    defineRoute(
      app,
      {
        method: "delete",
        path: "/api/recordings/:id",
        summary: "Delete a recording: its files and its rows",
        tag,
        auth: "apiKey",
        middleware: [requireApiKey(ctx.config.apiKey)],
        responses: { 204: "Deleted" },
      },
      async (c) => {
        const rec = recordingOf(c);
        await svc.remove(rec.id, "api");
        return c.body(null, 204);
      },
    );

    defineRoute(
      app,
      {
        method: "get",
        path: "/api/rooms/:roomId/recordings",
        summary: "The recordings of a room (API key or a host token of the room)",
        tag,
        auth: "apiKeyOrHost",
        responses: { 200: { description: "Recordings, oldest first", schema: z.object({ roomId: z.string(), recordings: z.array(recordingView) }) } },
      },
      (c) => {
        const roomId = c.req.param("roomId")!;
        ctx.rooms.require(roomId);
        apiKeyOr(ctx, c, roomId, hostOfRoom, "Only hosts and moderators of this room can list its recordings.");
        return c.json({ roomId, recordings: svc.listByRoom(roomId) });
      },
    );

    return app;
  };
}

/** The request body as a Node stream: read straight from the socket, without a Web-stream layer in between. */
function bodyStream(c: Context): Readable {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming && typeof incoming.pipe === "function") return incoming;
  const body = c.req.raw.body;
  return body ? Readable.fromWeb(body as never) : Readable.from([]);
}

/**
 * One `bytes=` range (RFC 9110 §14.1.2). Several ranges at once are
 * answered with the whole file, which the RFC allows; a range that starts
 * past the end is unsatisfiable (416).
 */
export function parseRange(header: string | undefined, size: number): [number, number] | "unsatisfiable" | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return [start, end];
}

function contentType(ext: string, rec: RecordingRow): string {
  const audioOnly = /^audio\//i.test(rec.mimeType);
  const kind = audioOnly ? "audio" : "video";
  if (ext === "mp4") return `${kind}/mp4`;
  if (ext === "mkv") return `${kind}/x-matroska`;
  if (ext === "ogg") return `${kind}/ogg`;
  return `${kind}/webm`;
}

function fileName(rec: RecordingRow, ext: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60);
  const when = rec.startedAt.replace(/[:]/g, "-").replace(/\..*$/, "");
  return `${safe(rec.roomId)}-${when}-${rec.id.slice(0, 8)}.${ext}`;
}
