import { randomUUID } from "node:crypto";
import { statfs } from "node:fs/promises";
import type { Readable } from "node:stream";
import { and, asc, eq, inArray, lt, sql } from "drizzle-orm";
import type { Participant } from "../auth/tokens.js";
import { isHostLike } from "../auth/tokens.js";
import type { AppContext } from "../context.js";
import { jobs, recordingChunks, recordingConsents, recordings, rooms } from "../db/schema.js";
import { HttpProblem } from "../http/problem.js";
import type { RoomRow } from "../rooms/service.js";
import type { ChunkStore } from "./chunkStore.js";
import type { Tools } from "./ffmpeg.js";
import { MAX_CHUNK_BYTES, MAX_LISTED_MISSING, MAX_RECORDING_BYTES, recordingTimings } from "./limits.js";
import type { RecordingView } from "./schemas.js";

export type RecordingRow = typeof recordings.$inferSelect;

type ClaimArgs = {
  id: string;
  index: number;
  size: number;
  sha256: string;
  at: string;
  limit: number;
};

/** Thrown inside a SQLite transaction to roll it back with a result. */
class Rollback extends Error {
  constructor(readonly result: "closed" | "full") {
    super(result);
  }
}
export const PROCESS_JOB = "recording.process";
export const MP4_JOB = "recording.mp4";

export interface ChunkResult {
  created: boolean;
  index: number;
  sizeBytes: number;
  sha256: string | null;
}

/**
 * Recordings: who may start one (consent), the chunked upload, completion,
 * listing, deletion, retention and the sweep that finalizes uploads a
 * crashed browser left behind. Processing itself is in `processor.ts`.
 */
export class RecordingService {
  /** Called when a job was queued, so the runner picks it up at once. */
  onJobQueued: () => void = () => {};

  /** The upload path runs these for every chunk: prepared once, not rebuilt per request. */
  private readonly q;
  /**
   * Claims an index and counts its bytes in one SQLite transaction (one WAL
   * write per chunk). "taken": the index was already stored; "closed": the
   * recording stopped accepting chunks; "full": over MAX_RECORDING_BYTES.
   */
  private readonly claimTx: (a: ClaimArgs) => "ok" | "gone" | "taken" | "closed" | "full";
  private readonly unclaimTx: (a: { id: string; index: number; size: number }) => void;

  constructor(
    private readonly ctx: AppContext,
    readonly store: ChunkStore,
    /** Found in the background: start-up does not wait for two `-version` runs of ffmpeg. */
    readonly tools: Promise<Tools>,
  ) {
    const db = ctx.db;
    const id = sql.placeholder("id");
    this.q = {
      get: db.select().from(recordings).where(eq(recordings.id, id)).prepare(),
      chunk: db
        .select()
        .from(recordingChunks)
        .where(and(eq(recordingChunks.recordingId, id), eq(recordingChunks.index, sql.placeholder("index"))))
        .prepare(),
      claim: db
        .insert(recordingChunks)
        .values({ recordingId: id, index: sql.placeholder("index"), sizeBytes: sql.placeholder("size"), sha256: sql.placeholder("sha256"), receivedAt: sql.placeholder("at") })
        .onConflictDoNothing()
        .prepare(),
      unclaim: db
        .delete(recordingChunks)
        .where(and(eq(recordingChunks.recordingId, id), eq(recordingChunks.index, sql.placeholder("index"))))
        .prepare(),
      addBytes: db
        .update(recordings)
        .set({ sizeBytes: sql`${recordings.sizeBytes} + ${sql.placeholder("size")}`, lastChunkAt: sql`${sql.placeholder("at")}` })
        .where(eq(recordings.id, id))
        .prepare(),
      subtractBytes: db
        .update(recordings)
        .set({ sizeBytes: sql`${recordings.sizeBytes} - ${sql.placeholder("size")}` })
        .where(eq(recordings.id, id))
        .prepare(),
    };
    const claim = ctx.database.sqlite.transaction((a: ClaimArgs) => {
      const rec = this.q.get.get({ id: a.id });
      if (!rec) return "gone" as const;
      if (this.q.claim.run(a).changes === 0) return "taken" as const;
      if (rec.status !== "UPLOADING") throw new Rollback("closed");
      if (rec.sizeBytes + a.size > a.limit) throw new Rollback("full");
      this.q.addBytes.run(a);
      return "ok" as const;
    });
    this.claimTx = (a) => {
      try {
        return claim(a);
      } catch (err) {
        if (err instanceof Rollback) return err.result;
        throw err;
      }
    };
    const unclaim = ctx.database.sqlite.transaction((a: { id: string; index: number; size: number }) => {
      this.q.unclaim.run(a);
      this.q.subtractBytes.run(a);
    });
    this.unclaimTx = (a) => unclaim(a);
  }

  get(id: string): RecordingRow | undefined {
    return this.q.get.get({ id });
  }

  /** Consents seen on the bus, by room and session (cleared when the room ends). */
  private readonly recentConsents = new Map<string, Map<string, boolean>>();

  noteConsent(e: { roomId: string; sessionId: string; participantId: string; granted: boolean }): void {
    const key = `${e.roomId}\n${e.sessionId}`;
    const m = this.recentConsents.get(key) ?? new Map<string, boolean>();
    m.set(e.participantId, e.granted);
    this.recentConsents.set(key, m);
  }

  forgetRoom(roomId: string): void {
    for (const key of this.recentConsents.keys()) if (key.startsWith(`${roomId}\n`)) this.recentConsents.delete(key);
  }

  /** Who in this room's current session said yes (the composite recorder includes only them). */
  consented(room: RoomRow): string[] {
    return [...this.consentsOf(room)].filter(([, g]) => g).map(([pid]) => pid);
  }

  /** Each answer in this room's current session: participant id → granted. */
  private consentsOf(room: RoomRow): Map<string, boolean> {
    const given = new Map(
      this.ctx.db
        .select()
        .from(recordingConsents)
        .where(and(eq(recordingConsents.roomId, room.id), eq(recordingConsents.sessionId, room.sessionId)))
        .all()
        .map((c) => [c.participantId, c.granted]),
    );
    // Signaling writes consents in batches; an answer given a moment ago is here before it is in the table.
    for (const [pid, granted] of this.recentConsents.get(`${room.id}\n${room.sessionId}`) ?? []) given.set(pid, granted);
    return given;
  }


  require(id: string): RecordingRow {
    const row = this.get(id);
    if (!row) throw new HttpProblem(404, "recording_not_found", `No recording with id "${id}".`);
    return row;
  }

  /** Who is in the call now and has not said yes (a refusal counts as not said yes). */
  missingConsent(room: RoomRow): { participantId: string; name: string | null; refused: boolean }[] {
    // Attendance writes are batched; read after them so a join a moment ago counts.
    this.ctx.attendance.flush();
    const present = this.ctx.rooms.participantsOf(room.id).filter((p) => p.connected && !p.removedAt);
    const given = this.consentsOf(room);
    return present.filter((p) => given.get(p.id) !== true).map((p) => ({ participantId: p.id, name: p.name, refused: given.get(p.id) === false }));
  }

  start(participant: Participant, room: RoomRow, input: { mimeType: string; mode: "self" | "composite" }): { recordingId: string } {
    if (!room.recordingEnabled) throw new HttpProblem(403, "recording_disabled", "Recording is not enabled for this room.");
    if (participant.role === "viewer") throw new HttpProblem(403, "forbidden_role", "Viewers cannot record.");
    if (input.mode === "composite" && !isHostLike(participant)) {
      throw new HttpProblem(403, "host_required", "Only hosts and moderators can record the composite of the whole call.");
    }
    if (!this.ctx.live.isAdmitted(room.id, participant.id, participant.role)) {
      throw new HttpProblem(403, "not_admitted", "You are still in the waiting room.");
    }
    let consentFrom: string[] = [];
    if (room.recordingRequireConsent) {
      const missing = this.missingConsent(room);
      if (missing.length) {
        throw new HttpProblem(
          409,
          "consent_required",
          `Recording needs the consent of everyone in the call; missing: ${missing.map((m) => m.name ?? m.participantId).join(", ")}.`,
          { missing },
        );
      }
      consentFrom = this.ctx.rooms
        .participantsOf(room.id)
        .filter((p) => p.connected)
        .map((p) => p.id);
    }
    const id = randomUUID();
    const at = new Date().toISOString();
    this.ctx.db
      .insert(recordings)
      .values({ id, roomId: room.id, sessionId: room.sessionId, participantId: participant.id, mode: input.mode, mimeType: input.mimeType, startedAt: at })
      .run();
    this.ctx.audit.record(room.id, participant.id, "recording.started", { recordingId: id, mode: input.mode, mimeType: input.mimeType, consentFrom }, at);
    this.ctx.bus.emit("recording-started", { roomId: room.id, sessionId: room.sessionId, recordingId: id, participantId: participant.id, at });
    return { recordingId: id };
  }

  received(id: string): number[] {
    return this.ctx.db
      .select({ index: recordingChunks.index })
      .from(recordingChunks)
      .where(eq(recordingChunks.recordingId, id))
      .orderBy(asc(recordingChunks.index))
      .all()
      .map((r) => r.index);
  }

  /**
   * Stores one chunk. The body is streamed to a temporary file (never
   * buffered whole), checked against the limits and the optional checksum,
   * then claimed in SQLite and renamed into place in the same turn of the
   * event loop, so two uploads of one index cannot both win.
   */
  async putChunk(rec: RecordingRow, index: number, body: Readable, contentLength: number | undefined, checksum: string | undefined): Promise<ChunkResult> {
    const existing = this.chunk(rec.id, index);
    if (!existing && rec.status !== "UPLOADING") {
      throw new HttpProblem(409, "recording_closed", `The recording is ${rec.status}; it no longer accepts chunks.`);
    }
    const budget = Math.min(MAX_CHUNK_BYTES, existing ? MAX_CHUNK_BYTES : MAX_RECORDING_BYTES - rec.sizeBytes);
    const overall = budget < MAX_CHUNK_BYTES;
    const limitMessage = overall
      ? `The recording would exceed ${MAX_RECORDING_BYTES} bytes (MAX_RECORDING_BYTES); finish it and start a new one.`
      : `A chunk may be at most ${MAX_CHUNK_BYTES} bytes (MAX_CHUNK_BYTES).`;
    const tooLarge = () => new HttpProblem(413, overall ? "recording_too_large" : "chunk_too_large", limitMessage);
    if (contentLength !== undefined && contentLength > budget) throw tooLarge();
    const staged = await this.store.stage(rec.id, body, budget, tooLarge, Boolean(checksum));
    const refuse = (err: HttpProblem) => {
      this.store.discard(staged);
      return err;
    };
    if (contentLength !== undefined && staged.sizeBytes !== contentLength) {
      throw refuse(new HttpProblem(400, "upload_interrupted", "The chunk's body is shorter than its Content-Length; send it again."));
    }
    if (staged.sizeBytes === 0) throw refuse(new HttpProblem(400, "empty_chunk", "A chunk must carry at least one byte."));
    if (checksum && checksum !== staged.sha256) {
      throw refuse(new HttpProblem(400, "checksum_mismatch", "The chunk's SHA-256 does not match X-Chunk-Sha256; send it again.", { expected: checksum, actual: staged.sha256 }));
    }
    // From here to the rename everything is synchronous: the claim and the file appear together.
    const at = new Date().toISOString();
    const claimed = this.claimTx({ id: rec.id, index, size: staged.sizeBytes, sha256: staged.sha256 ?? "", at, limit: MAX_RECORDING_BYTES });
    if (claimed === "gone") throw refuse(new HttpProblem(404, "recording_not_found", `The recording "${rec.id}" was deleted.`));
    if (claimed === "taken") {
      // A retry (the acknowledgement was lost) or a conflict: compare digests when both are known, else the bytes.
      const prior = this.chunk(rec.id, index)!;
      const same =
        prior.sizeBytes === staged.sizeBytes &&
        (prior.sha256 && staged.sha256 ? prior.sha256 === staged.sha256 : await this.store.sameAsStored(staged, rec.id, index));
      if (!same) throw refuse(new HttpProblem(409, "chunk_conflict", `Chunk ${index} was already received with different bytes.`, { index }));
      this.store.discard(staged);
      return { created: false, index, sizeBytes: prior.sizeBytes, sha256: prior.sha256 || staged.sha256 };
    }
    if (claimed === "closed") {
      // Completed or finalized while this chunk was streaming in.
      throw refuse(new HttpProblem(409, "recording_closed", "The recording was completed meanwhile; it no longer accepts chunks."));
    }
    if (claimed === "full") throw refuse(new HttpProblem(413, "recording_too_large", limitMessage));
    try {
      this.store.commit(staged, rec.id, index);
    } catch (err) {
      this.unclaimTx({ id: rec.id, index, size: staged.sizeBytes });
      this.store.discard(staged);
      throw err;
    }
    return { created: true, index, sizeBytes: staged.sizeBytes, sha256: staged.sha256 };
  }

  private chunk(id: string, index: number) {
    return this.q.chunk.get({ id, index });
  }

  /** The browser says it is done: every index below `chunks` must be there. */
  complete(rec: RecordingRow, chunks: number, mp4: boolean, actor: string): RecordingRow {
    if (rec.status !== "UPLOADING") {
      if (rec.expectedChunks === chunks) return rec; // a retried complete
      throw new HttpProblem(409, "recording_closed", `The recording is already ${rec.status}.`);
    }
    const got = new Set(this.received(rec.id));
    const missing: number[] = [];
    for (let i = 0; i < chunks; i++) if (!got.has(i)) missing.push(i);
    if (missing.length) {
      throw new HttpProblem(409, "chunks_missing", `${missing.length} chunk(s) have not arrived: ${missing.slice(0, 20).join(", ")}${missing.length > 20 ? ", …" : ""}. Upload them, then complete again.`, {
        missing: missing.slice(0, MAX_LISTED_MISSING),
        missingCount: missing.length,
      });
    }
    const extra = [...got].filter((i) => i >= chunks);
    if (extra.length) {
      throw new HttpProblem(409, "unexpected_chunks", `Chunks beyond the announced count were received: ${extra.slice(0, 20).join(", ")}.`, { extra: extra.slice(0, MAX_LISTED_MISSING) });
    }
    return this.close(rec, chunks, mp4, actor, "recording.completed");
  }

  /** UPLOADING → PROCESSING, the job queued, everyone told. */
  private close(rec: RecordingRow, expectedChunks: number | null, mp4: boolean, actor: string, action: string, detail: Record<string, unknown> = {}): RecordingRow {
    const at = new Date().toISOString();
    const changed = this.ctx.db.transaction((tx) => {
      const res = tx
        .update(recordings)
        .set({ status: "PROCESSING", expectedChunks, endedAt: rec.lastChunkAt ?? at })
        .where(and(eq(recordings.id, rec.id), eq(recordings.status, "UPLOADING")))
        .run();
      if (res.changes === 0) return false;
      tx.insert(jobs).values({ kind: PROCESS_JOB, ref: rec.id, runAt: at }).onConflictDoNothing().run();
      if (mp4) tx.insert(jobs).values({ kind: MP4_JOB, ref: rec.id, runAt: at }).onConflictDoNothing().run();
      return true;
    });
    const row = this.require(rec.id);
    if (!changed) return row;
    this.ctx.audit.record(rec.roomId, actor, action, { recordingId: rec.id, chunks: expectedChunks ?? this.received(rec.id).length, sizeBytes: row.sizeBytes, ...detail }, at);
    this.ctx.bus.emit("recording-stopped", { roomId: rec.roomId, sessionId: rec.sessionId, recordingId: rec.id, participantId: rec.participantId, at });
    this.onJobQueued();
    return row;
  }

  /**
   * Uploads that went silent after their room ended (a closed tab, a crash)
   * are finalized from what arrived, so the visit still leaves a file.
   * Silent for very long without a room end counts as abandoned, too.
   */
  finalizeStale(now = Date.now()): number {
    const uploading = this.ctx.db
      .select({ rec: recordings, roomStatus: rooms.status, roomEndedAt: rooms.endedAt })
      .from(recordings)
      .leftJoin(rooms, eq(rooms.id, recordings.roomId))
      .where(eq(recordings.status, "UPLOADING"))
      .all();
    let n = 0;
    for (const { rec, roomStatus, roomEndedAt } of uploading) {
      const lastActivity = Date.parse(rec.lastChunkAt ?? rec.startedAt);
      const ended = roomStatus === "ended" || roomStatus === null;
      const quietSince = Math.max(lastActivity, roomEndedAt ? Date.parse(roomEndedAt) : 0);
      const stale = ended ? now - quietSince >= recordingTimings.staleGraceMs : now - lastActivity >= recordingTimings.abandonedAfterMs;
      if (!stale) continue;
      const got = this.received(rec.id);
      const gaps: number[] = [];
      for (let i = 0, j = 0; got.length && i <= got[got.length - 1]!; i++) {
        if (got[j] === i) j++;
        else gaps.push(i);
      }
      this.close(rec, null, false, "system", "recording.finalized_incomplete", { reason: ended ? "room_ended" : "abandoned", received: got.length, gaps: gaps.slice(0, MAX_LISTED_MISSING) });
      n++;
    }
    return n;
  }

  view(row: RecordingRow, chunksReceived = this.received(row.id).length): RecordingView {
    let note: string | null = null;
    if (row.status === "READY" && !row.processed) {
      note = "Not processed: ffmpeg was not found, so the file is kept exactly as the browser recorded it (players may show no duration and may not seek). Install ffmpeg (apt-get install ffmpeg) or set PARLEY_FFMPEG_PATH.";
    } else if (row.expectedChunks === null && row.status !== "UPLOADING") {
      note = "Finalized from the chunks that had arrived: the upload stopped (tab closed or crashed) and did not resume.";
    }
    return {
      recordingId: row.id,
      roomId: row.roomId,
      sessionId: row.sessionId,
      participantId: row.participantId,
      mode: row.mode,
      status: row.status,
      mimeType: row.mimeType,
      format: row.format,
      sizeBytes: row.sizeBytes,
      durationSeconds: row.durationSeconds,
      processed: row.processed,
      note,
      failureReason: row.failureReason,
      chunksReceived,
      expectedChunks: row.expectedChunks,
      mp4: Boolean(row.mp4Path),
      startedAt: row.startedAt,
      endedAt: row.endedAt,
      downloadUrl: row.filePath ? `${this.ctx.config.publicUrl}/api/recordings/${row.id}/file` : null,
    };
  }

  listByRoom(roomId: string): RecordingView[] {
    const rows = this.ctx.db.select().from(recordings).where(eq(recordings.roomId, roomId)).orderBy(asc(recordings.startedAt)).all();
    const counts = new Map(
      rows.length
        ? this.ctx.db
            .select({ id: recordingChunks.recordingId, n: sql<number>`count(*)` })
            .from(recordingChunks)
            .where(inArray(recordingChunks.recordingId, rows.map((r) => r.id)))
            .groupBy(recordingChunks.recordingId)
            .all()
            .map((r) => [r.id, r.n])
        : [],
    );
    return rows.map((r) => this.view(r, counts.get(r.id) ?? 0));
  }

  async remove(id: string, actor: string, action = "recording.deleted"): Promise<void> {
    const rec = this.require(id);
    // Files first: once the row is gone (a 404), nothing of the recording is left on disk.
    await this.store.removeRecording(id);
    this.ctx.db.transaction((tx) => {
      tx.delete(jobs).where(and(inArray(jobs.kind, [PROCESS_JOB, MP4_JOB]), eq(jobs.ref, id))).run();
      tx.delete(recordings).where(eq(recordings.id, id)).run();
    });
    this.ctx.audit.record(rec.roomId, actor, action, { recordingId: id, sizeBytes: rec.sizeBytes, status: rec.status });
  }

  /** PARLEY_RECORDING_RETENTION_DAYS: files and rows of older recordings go. */
  async applyRetention(now = Date.now()): Promise<number> {
    const days = this.ctx.config.recordings.retentionDays;
    if (!(days > 0)) return 0;
    const cutoff = new Date(now - days * 86400_000).toISOString();
    const old = this.ctx.db.select({ id: recordings.id }).from(recordings).where(lt(recordings.startedAt, cutoff)).all();
    for (const r of old) await this.remove(r.id, "system", "recording.expired");
    if (old.length) this.ctx.log.info({ removed: old.length, retentionDays: days }, "recordings removed by retention");
    return old.length;
  }

  async storage() {
    const rows = this.ctx.db
      .select({ status: recordings.status, count: sql<number>`count(*)`, bytes: sql<number>`coalesce(sum(${recordings.sizeBytes}), 0)` })
      .from(recordings)
      .groupBy(recordings.status)
      .all();
    const byStatus: Record<string, { count: number; sizeBytes: number }> = {};
    for (const s of ["UPLOADING", "PROCESSING", "READY", "FAILED"]) byStatus[s] = { count: 0, sizeBytes: 0 };
    for (const r of rows) byStatus[r.status] = { count: r.count, sizeBytes: r.bytes };
    let freeBytes: number | null = null;
    try {
      const fs = await statfs(this.store.root);
      freeBytes = fs.bavail * fs.bsize;
    } catch {
      // statfs is missing on some platforms; the figure is then unknown.
    }
    return {
      recordings: rows.reduce((a, r) => a + r.count, 0),
      byStatus,
      totalBytes: rows.reduce((a, r) => a + r.bytes, 0),
      diskBytes: await this.store.diskUsage(),
      freeBytes,
      retentionDays: this.ctx.config.recordings.retentionDays,
      ffmpeg: Boolean((await this.tools).ffmpeg),
      limits: { maxChunkBytes: MAX_CHUNK_BYTES, maxRecordingBytes: MAX_RECORDING_BYTES },
    };
  }
}
