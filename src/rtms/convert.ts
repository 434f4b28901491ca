import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { and, eq, inArray } from "drizzle-orm";
import ffmpeg from "fluent-ffmpeg";
import type { AppContext } from "../context.js";
import { jobs, rtmsStreams } from "../db/schema.js";
import { findMediaTools } from "../media/tools.js";
import { AUDIO_PARAMS } from "./client.js";

/** The `jobs.kind` of a RAW → WAV conversion; `ref` is the stream id. */
export const WAV_JOB = "rtms-wav";
const MAX_ATTEMPTS = 3;
const RETRY_DELAY_MS = 5_000;
/** A conversion of even hours of 16 kHz mono audio takes seconds; past this it is stuck. */
const CONVERT_TIMEOUT_MS = 10 * 60_000;

export type ConvertResult = { ok: true } | { ok: false; ffmpegMissing: boolean; error: string };

/**
 * RAW (s16le, 16 kHz, mono — what AUDIO_PARAMS asks Zoom for) → PCM WAV.
 * Written beside the target and renamed into place, so a crash never leaves
 * a half WAV that looks finished.
 */
export async function convertRawToWav(ffmpegPath: string, raw: string, wav: string): Promise<ConvertResult> {
  if (!(await findMediaTools(ffmpegPath)).ffmpeg) {
    return { ok: false, ffmpegMissing: true, error: `ffmpeg not found or not runnable at "${ffmpegPath}" (PARLEY_FFMPEG_PATH)` };
  }
  const part = `${wav}.part`;
  return new Promise((resolve) => {
    const cmd = ffmpeg()
      .setFfmpegPath(ffmpegPath)
      .input(raw)
      .inputOptions(["-f s16le", `-ar ${AUDIO_PARAMS.sampleRate}`, `-ac ${AUDIO_PARAMS.channels}`])
      .audioCodec("pcm_s16le")
      .format("wav")
      .output(part);
    const timer = setTimeout(() => cmd.kill("SIGKILL"), CONVERT_TIMEOUT_MS);
    timer.unref();
    cmd
      .on("end", () => {
        clearTimeout(timer);
        try {
          renameSync(part, wav);
          resolve({ ok: true });
        } catch (err) {
          resolve({ ok: false, ffmpegMissing: false, error: (err as Error).message });
        }
      })
      .on("error", (err: Error) => {
        clearTimeout(timer);
        rmSync(part, { force: true });
        resolve({ ok: false, ffmpegMissing: false, error: err.message.split("\n")[0] ?? "ffmpeg failed" });
      })
      .run();
  });
}

/**
 * Conversions are rows in `jobs`, so one that a restart interrupted is run
 * again at the next start. The stream row carries the outcome: `ready` with
 * its WAV, `raw_only` when there is no ffmpeg (the RAW file is kept), or
 * `failed` after the last attempt.
 */
export class WavJobs {
  private readonly running = new Map<string, Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly ctx: AppContext) {}

  enqueue(streamId: string): void {
    const at = new Date().toISOString();
    this.ctx.db
      .insert(jobs)
      .values({ kind: WAV_JOB, ref: streamId, status: "pending", runAt: at, createdAt: at, updatedAt: at })
      .onConflictDoUpdate({ target: [jobs.kind, jobs.ref], set: { status: "pending", attempts: 0, runAt: at, lastError: null, updatedAt: at } })
      .run();
    this.run(streamId);
  }

  /** Jobs a previous run left pending or running. */
  resume(): number {
    const due = this.ctx.db
      .select({ ref: jobs.ref })
      .from(jobs)
      .where(and(eq(jobs.kind, WAV_JOB), inArray(jobs.status, ["pending", "running"])))
      .all();
    for (const j of due) this.run(j.ref);
    return due.length;
  }

  /** Resolves when the stream's conversion (if any) has finished. */
  settled(streamId: string): Promise<void> {
    return this.running.get(streamId) ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.running.values()]);
  }

  private run(streamId: string): void {
    if (this.stopped || this.running.has(streamId)) return;
    const p = this.attempt(streamId)
      .catch((err) => this.ctx.log.error({ err, streamId }, "RTMS audio conversion crashed"))
      .finally(() => this.running.delete(streamId));
    this.running.set(streamId, p);
  }

  private async attempt(streamId: string): Promise<void> {
    const { db, log, config } = this.ctx;
    const job = db.select().from(jobs).where(and(eq(jobs.kind, WAV_JOB), eq(jobs.ref, streamId))).get();
    const stream = db.select().from(rtmsStreams).where(eq(rtmsStreams.streamId, streamId)).get();
    if (!job || !stream) return;
    const setJob = (set: Partial<typeof jobs.$inferInsert>) =>
      db.update(jobs).set({ ...set, updatedAt: new Date().toISOString() }).where(eq(jobs.id, job.id)).run();
    const setStream = (set: Partial<typeof rtmsStreams.$inferInsert>) => db.update(rtmsStreams).set(set).where(eq(rtmsStreams.streamId, streamId)).run();

    const raw = stream.audioPath;
    if (!raw || !existsSync(raw) || statSync(raw).size === 0) {
      setJob({ status: "done", lastError: "no audio captured" });
      setStream({ status: "stopped", reason: "no audio was captured" });
      return;
    }
    const wav = raw.replace(/\.raw$/, "") + ".wav";
    setJob({ status: "running", attempts: job.attempts + 1 });
    const result = await convertRawToWav(config.recordings.ffmpegPath, raw, wav);
    if (this.stopped) return; // the database may be closing; the job stays "running" and is resumed at the next start
    if (result.ok) {
      setJob({ status: "done", lastError: null });
      setStream({ status: "ready", wavPath: wav, reason: null });
      log.info({ streamId, wav }, "RTMS audio converted to WAV");
      return;
    }
    if (result.ffmpegMissing) {
      setJob({ status: "done", lastError: result.error });
      setStream({ status: "raw_only", reason: `${result.error}; the RAW audio (s16le, 16 kHz, mono) is kept at ${raw}` });
      log.warn({ streamId, raw }, "RTMS audio kept as RAW: no ffmpeg");
      return;
    }
    const attempts = job.attempts + 1;
    if (attempts >= MAX_ATTEMPTS) {
      setJob({ status: "failed", lastError: result.error });
      setStream({ status: "failed", reason: `WAV conversion failed ${attempts} times: ${result.error}; the RAW audio is kept at ${raw}` });
      log.error({ streamId, error: result.error }, "RTMS audio conversion failed for good");
      return;
    }
    setJob({ status: "pending", lastError: result.error, runAt: new Date(Date.now() + RETRY_DELAY_MS * attempts).toISOString() });
    log.warn({ streamId, error: result.error, attempts }, "RTMS audio conversion failed; retrying");
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.run(streamId);
    }, RETRY_DELAY_MS * attempts);
    t.unref();
    this.timers.add(t);
  }
}
