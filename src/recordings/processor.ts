import { existsSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import type { AppContext } from "../context.js";
import { recordings } from "../db/schema.js";
import { containerFor, probe, remux, transcodeMp4 } from "./ffmpeg.js";
import { NotYetError, PermanentJobError } from "./jobs.js";
import type { RecordingRow, RecordingService } from "./service.js";

/** File extension of what the browser sent, for recordings kept as uploaded. */
const rawExt = (mimeType: string) => (/mp4/i.test(mimeType) ? "mp4" : /matroska/i.test(mimeType) ? "mkv" : /ogg/i.test(mimeType) ? "ogg" : "webm");

/**
 * PROCESSING → READY | FAILED: concatenate the chunks in index order, remux
 * (`-c copy`) so the file has a duration and seeks, probe it. Idempotent:
 * a run interrupted by a restart starts over from the chunks, which are
 * only deleted once the final file is in place.
 */
export class RecordingProcessor {
  constructor(
    private readonly ctx: AppContext,
    private readonly svc: RecordingService,
  ) {}

  async process(id: string, signal: AbortSignal): Promise<void> {
    const rec = this.svc.get(id);
    if (!rec || rec.status === "READY" || rec.status === "FAILED") return; // deleted meanwhile, or done before a restart
    const store = this.svc.store;
    const tools = await this.svc.tools;
    const dir = store.dir(id);
    const raw = join(dir, "recording.raw");
    const indexes = this.svc.received(id);
    const expected = rec.expectedChunks;
    const usable = expected === null ? indexes : indexes.filter((i) => i < expected);

    if (usable.length === 0 && !existsSync(raw)) throw new PermanentJobError("No chunk of the recording was uploaded.");
    if (usable.length && usable[0] !== 0) throw new PermanentJobError("The first chunk (which holds the file header) never arrived, so the rest cannot be played.");
    if (usable.length && existsSync(store.chunkPath(id, usable[0]!))) await store.concatenate(id, usable, raw);
    if (signal.aborted) return;

    if (!tools.ffmpeg) {
      const final = join(dir, `recording.${rawExt(rec.mimeType)}`);
      renameSync(raw, final);
      this.finish(rec, { filePath: final, processed: false, format: rawExt(rec.mimeType), durationSeconds: null, sizeBytes: statSync(final).size });
      await store.removeChunks(id);
      return;
    }

    let before;
    try {
      before = await probe(tools, raw);
    } catch (err) {
      throw new PermanentJobError(`The uploaded data is not a readable recording (${(err as Error).message}).`);
    }
    const { format, ext } = containerFor(before, rec.mimeType);
    const final = join(dir, `recording.${ext}`);
    const temp = join(dir, `recording.tmp.${ext}`);
    try {
      await remux(tools, raw, temp, format, signal);
    } catch (err) {
      if (signal.aborted) return;
      throw new PermanentJobError(`Remuxing failed: ${(err as Error).message}`);
    }
    if (signal.aborted) return;
    renameSync(temp, final);
    const after = await probe(tools, final).catch(() => before);
    this.finish(rec, {
      filePath: final,
      processed: true,
      format: ext === "mkv" ? "matroska" : ext,
      durationSeconds: after.durationSeconds,
      sizeBytes: statSync(final).size,
    });
    store.removeFile(raw);
    await store.removeChunks(id);
  }

  /** Optional H.264/AAC copy, once the main file is READY. A failure here leaves the recording READY. */
  async mp4(id: string, signal: AbortSignal): Promise<void> {
    const rec = this.svc.get(id);
    if (!rec || rec.status === "FAILED" || !rec.filePath) return;
    if (rec.status !== "READY") throw new NotYetError("waiting for processing");
    const tools = await this.svc.tools;
    if (!tools.ffmpeg) return;
    if (rec.filePath.endsWith(".mp4")) {
      this.ctx.db.update(recordings).set({ mp4Path: rec.filePath }).where(eq(recordings.id, id)).run();
      return;
    }
    const target = join(this.svc.store.dir(id), "recording.mp4");
    const temp = join(this.svc.store.dir(id), "recording.tmp-h264.mp4");
    await transcodeMp4(tools, rec.filePath, temp, signal);
    if (signal.aborted) return;
    renameSync(temp, target);
    this.ctx.db.update(recordings).set({ mp4Path: target }).where(eq(recordings.id, id)).run();
  }

  private finish(rec: RecordingRow, set: Pick<RecordingRow, "filePath" | "processed" | "format" | "durationSeconds" | "sizeBytes">): void {
    const at = new Date().toISOString();
    this.ctx.db
      .update(recordings)
      .set({ ...set, status: "READY", failureReason: null })
      .where(eq(recordings.id, rec.id))
      .run();
    this.ctx.audit.record(rec.roomId, "system", "recording.ready", { recordingId: rec.id, processed: set.processed, durationSeconds: set.durationSeconds, sizeBytes: set.sizeBytes }, at);
    this.ctx.bus.emit("recording-ready", { roomId: rec.roomId, sessionId: rec.sessionId, recordingId: rec.id, status: "READY", at });
  }

  /** The job gave up: FAILED with the reason; whatever was concatenated stays downloadable. */
  fail(id: string, reason: string): void {
    const rec = this.svc.get(id);
    if (!rec || rec.status === "READY") return;
    const raw = join(this.svc.store.dir(id), "recording.raw");
    const at = new Date().toISOString();
    this.ctx.db
      .update(recordings)
      .set({ status: "FAILED", failureReason: reason.slice(0, 1000), filePath: existsSync(raw) ? raw : null, ...(existsSync(raw) ? { sizeBytes: statSync(raw).size } : {}) })
      .where(eq(recordings.id, id))
      .run();
    this.ctx.audit.record(rec.roomId, "system", "recording.failed", { recordingId: id, reason }, at);
    this.ctx.bus.emit("recording-ready", { roomId: rec.roomId, sessionId: rec.sessionId, recordingId: id, status: "FAILED", at });
  }
}
