import { and, asc, eq, inArray, lte } from "drizzle-orm";
import type { Db } from "../db/open.js";
import { jobs } from "../db/schema.js";
import type { Logger } from "../log.js";

/** An error that retrying cannot fix (bad media, not a full disk): the job fails at once. */
export class PermanentJobError extends Error {}
/** The job cannot run yet (it waits for another one); it is tried again later without counting an attempt. */
export class NotYetError extends Error {}

export type JobHandler = (ref: string, signal: AbortSignal) => Promise<void>;

export interface JobRunnerOptions {
  maxAttempts: number;
  retryMs: number;
  /** Called once a job has failed for good. */
  onGiveUp(kind: string, ref: string, err: Error): void;
}

/**
 * Runs the jobs of the given kinds from the `jobs` table one at a time.
 * Jobs are rows, so work queued before a crash or restart is picked up
 * again on the next start; a job found `running` at start was interrupted
 * and runs again from the beginning (every handler is idempotent).
 */
export class JobRunner {
  private busy = false;
  private stopped = false;
  private current: Promise<void> | undefined;
  private abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly handlers: Record<string, JobHandler>,
    private readonly opts: JobRunnerOptions,
  ) {}

  private get kinds(): string[] {
    return Object.keys(this.handlers);
  }

  start(): void {
    const reset = this.db
      .update(jobs)
      .set({ status: "pending", updatedAt: new Date().toISOString() })
      .where(and(inArray(jobs.kind, this.kinds), eq(jobs.status, "running")))
      .run();
    if (reset.changes) this.log.info({ jobs: reset.changes }, "resuming recording jobs interrupted by the last shutdown");
    this.kick();
  }

  /** Looks for due work now (called when a job is queued and by the periodic sweep). */
  kick(): void {
    if (this.busy || this.stopped) return;
    this.busy = true;
    this.current = this.drain().finally(() => {
      this.busy = false;
    });
  }

  private async drain(): Promise<void> {
    while (!this.stopped) {
      const now = new Date().toISOString();
      const job = this.db
        .select()
        .from(jobs)
        .where(and(inArray(jobs.kind, this.kinds), eq(jobs.status, "pending"), lte(jobs.runAt, now)))
        .orderBy(asc(jobs.runAt), asc(jobs.id))
        .limit(1)
        .get();
      if (!job) break;
      this.db
        .update(jobs)
        .set({ status: "running", attempts: job.attempts + 1, updatedAt: now })
        .where(eq(jobs.id, job.id))
        .run();
      try {
        await this.handlers[job.kind]!(job.ref, this.abort.signal);
        if (this.stopped) return; // interrupted: stays `running`, reset at next start
        this.db.update(jobs).set({ status: "done", lastError: null, updatedAt: new Date().toISOString() }).where(eq(jobs.id, job.id)).run();
      } catch (e) {
        if (this.stopped) return;
        const err = e instanceof Error ? e : new Error(String(e));
        const later = (ms: number) => new Date(Date.now() + ms).toISOString();
        if (err instanceof NotYetError) {
          this.db.update(jobs).set({ status: "pending", attempts: job.attempts, runAt: later(this.opts.retryMs), updatedAt: now }).where(eq(jobs.id, job.id)).run();
          this.schedule(this.opts.retryMs);
          continue;
        }
        const attempts = job.attempts + 1;
        const giveUp = err instanceof PermanentJobError || attempts >= this.opts.maxAttempts;
        this.log.warn({ err: err.message, kind: job.kind, ref: job.ref, attempts, giveUp }, "recording job failed");
        const delay = this.opts.retryMs * 2 ** (attempts - 1);
        this.db
          .update(jobs)
          .set({ status: giveUp ? "failed" : "pending", lastError: err.message.slice(0, 1000), runAt: giveUp ? job.runAt : later(delay), updatedAt: new Date().toISOString() })
          .where(eq(jobs.id, job.id))
          .run();
        if (giveUp) this.opts.onGiveUp(job.kind, job.ref, err);
        else this.schedule(delay);
      }
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.kick(), ms + 10);
    this.timer.unref();
  }

  /** Stops picking jobs, interrupts the running one (its ffmpeg is killed) and waits for it briefly. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort();
    if (this.current) await Promise.race([this.current.catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())]);
  }
}
