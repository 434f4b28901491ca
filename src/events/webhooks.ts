import { createHmac, randomUUID } from "node:crypto";
import { and, asc, desc, eq, inArray, lte, sql } from "drizzle-orm";
import type { AppContext } from "../context.js";
import { webhookAttempts, webhookDeliveries, webhooks } from "../db/schema.js";
import { notFound } from "../http/problem.js";
import type { PublicFrame } from "./frames.js";

export type WebhookRow = typeof webhooks.$inferSelect;
export type DeliveryRow = typeof webhookDeliveries.$inferSelect;
export type AttemptRow = typeof webhookAttempts.$inferSelect;

/** Defaults of the webhook outbox; exported so tests can shorten the back-off. */
export const webhookTuning = {
  /** First retry after this; each next one waits twice as long (± 20 % jitter), capped by `maxDelayMs`. */
  baseDelayMs: 10_000,
  maxDelayMs: 3_600_000,
  /** A delivery still failing this long after the event is given up (`failed`). */
  giveUpAfterMs: 24 * 3_600_000,
  /** One receiver's request may take this long; a slow receiver never holds more than `concurrency` requests. */
  timeoutMs: 10_000,
  concurrency: 4,
  /** The dispatcher looks again at least this often. */
  maxSleepMs: 30_000,
  /** How long stop() waits for requests already sent, so their answers are recorded. */
  stopGraceMs: 12_000,
};

export const sign = (secret: string, body: string) => "sha256=" + createHmac("sha256", secret).update(body).digest("hex");

/**
 * Signed webhooks with an SQLite outbox. Every public event becomes one
 * delivery row per matching webhook (id, body fixed at enqueue time); a
 * dispatcher posts due rows with bounded concurrency and a timeout, and
 * reschedules failures with exponential back-off for up to 24 h. Rows
 * survive restarts; a row is marked delivered only after a 2xx, and the
 * `X-Parley-Delivery` id lets a receiver drop the rare duplicate (a crash
 * between its 2xx and our write).
 */
export class WebhookService {
  private hooks: WebhookRow[] = [];
  private pending: PublicFrame[] = [];
  private flushScheduled = false;
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private pumping = false;

  /** Called after every attempt (metrics). */
  onAttempt: (result: "delivered" | "retry" | "failed") => void = () => {};

  constructor(private readonly ctx: AppContext) {}

  pendingCount(): number {
    return this.ctx.db.select({ n: sql<number>`count(*)` }).from(webhookDeliveries).where(eq(webhookDeliveries.status, "pending")).get()?.n ?? 0;
  }

  create(input: { url: string; events: string[]; secret: string; roomId?: string }): WebhookRow {
    const row = { id: randomUUID(), url: input.url, events: input.events, secret: input.secret, roomId: input.roomId ?? null, createdAt: new Date().toISOString() };
    this.ctx.db.insert(webhooks).values(row).run();
    this.ctx.audit.record(row.roomId, "api", "webhook.created", { webhookId: row.id, url: row.url, events: row.events });
    this.reload();
    return row;
  }

  list(): WebhookRow[] {
    return this.ctx.db.select().from(webhooks).orderBy(asc(webhooks.createdAt)).all();
  }

  require(id: string): WebhookRow {
    const row = this.ctx.db.select().from(webhooks).where(eq(webhooks.id, id)).get();
    if (!row) throw notFound("webhook", id);
    return row;
  }

  remove(id: string): void {
    const row = this.require(id);
    this.ctx.db.delete(webhooks).where(eq(webhooks.id, id)).run();
    this.ctx.audit.record(row.roomId, "api", "webhook.deleted", { webhookId: id, url: row.url });
    this.reload();
  }

  /** The newest deliveries of a webhook, each with every attempt made so far (oldest first). */
  deliveries(webhookId: string, limit: number): (DeliveryRow & { attemptLog: AttemptRow[] })[] {
    this.require(webhookId);
    const rows = this.ctx.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, webhookId)).orderBy(desc(webhookDeliveries.createdAt)).limit(limit).all();
    if (!rows.length) return [];
    const log = new Map<string, AttemptRow[]>();
    const attempts = this.ctx.db
      .select()
      .from(webhookAttempts)
      .where(inArray(webhookAttempts.deliveryId, rows.map((r) => r.id)))
      .orderBy(asc(webhookAttempts.attempt))
      .all();
    for (const a of attempts) log.set(a.deliveryId, [...(log.get(a.deliveryId) ?? []), a]);
    return rows.map((r) => ({ ...r, attemptLog: log.get(r.id) ?? [] }));
  }

  /** Called for every public event. Enqueues on the next tick so the emitter (often the relay) never waits on SQLite. */
  enqueue(frame: PublicFrame): void {
    if (!this.hooks.length || this.stopped) return;
    this.pending.push(frame);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const frames = this.pending;
    this.pending = [];
    if (!frames.length) return;
    const now = new Date().toISOString();
    let added = 0;
    this.ctx.db.transaction((tx) => {
      for (const frame of frames) {
        for (const hook of this.hooks) {
          if (hook.roomId && hook.roomId !== frame.roomId) continue;
          if (!hook.events.includes(frame.type) && !hook.events.includes("*")) continue;
          const id = randomUUID();
          const body = JSON.stringify({ id, type: frame.type, timestamp: String(frame.data.timestamp ?? now), data: frame.data });
          tx.insert(webhookDeliveries).values({ id, webhookId: hook.id, event: frame.type, body, nextAttemptAt: now, createdAt: now }).run();
          added++;
        }
      }
    });
    if (added) void this.pump();
  }

  start(): void {
    this.reload();
    void this.pump();
  }

  async stop(): Promise<void> {
    this.flush();
    this.stopped = true;
    clearTimeout(this.timer);
    // Let requests already sent finish, so a 2xx is recorded and not sent again after the restart.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inFlight.values()]), new Promise((r) => (timer = setTimeout(r, webhookTuning.stopGraceMs)))]);
    clearTimeout(timer);
  }

  private reload(): void {
    this.hooks = this.list();
  }

  /** Starts due deliveries up to the concurrency bound; each finished one pumps again. */
  private async pump(): Promise<void> {
    if (this.stopped || this.pumping) return;
    this.pumping = true;
    try {
      const free = webhookTuning.concurrency - this.inFlight.size;
      if (free > 0) {
        const due = this.ctx.db
          .select({ id: webhookDeliveries.id })
          .from(webhookDeliveries)
          .where(and(eq(webhookDeliveries.status, "pending"), lte(webhookDeliveries.nextAttemptAt, new Date().toISOString())))
          .orderBy(asc(webhookDeliveries.nextAttemptAt))
          .limit(free + this.inFlight.size)
          .all()
          .filter((r) => !this.inFlight.has(r.id))
          .slice(0, free);
        for (const { id } of due) {
          const p = this.attempt(id).finally(() => {
            this.inFlight.delete(id);
            void this.pump();
          });
          this.inFlight.set(id, p);
        }
      }
    } catch (err) {
      this.ctx.log.error({ err }, "webhook dispatcher failed");
    } finally {
      this.pumping = false;
      this.reschedule();
    }
  }

  private reschedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const next = this.ctx.db
      .select({ at: sql<string | null>`min(${webhookDeliveries.nextAttemptAt})` })
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.status, "pending"))
      .get()?.at;
    if (!next) return;
    const wait = Math.min(Math.max(0, Date.parse(next) - Date.now()), webhookTuning.maxSleepMs);
    // While all slots are busy, finishing requests pump; no need to spin.
    this.timer = setTimeout(() => void this.pump(), Math.max(wait, 50));
    this.timer.unref();
  }

  private async attempt(id: string): Promise<void> {
    const row = this.ctx.db
      .select({ d: webhookDeliveries, h: webhooks })
      .from(webhookDeliveries)
      .innerJoin(webhooks, eq(webhooks.id, webhookDeliveries.webhookId))
      .where(eq(webhookDeliveries.id, id))
      .get();
    if (!row || row.d.status !== "pending") return;
    const { d, h } = row;
    const attempts = d.attempts + 1;
    let statusCode: number | null = null;
    let error: string | null = null;
    const started = Date.now();
    try {
      const res = await fetch(h.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": `Parley-Webhooks/${this.ctx.version}`,
          "x-parley-signature": sign(h.secret, d.body),
          "x-parley-delivery": d.id,
          "x-parley-event": d.event,
          "x-parley-timestamp": String(Math.floor(Date.now() / 1000)),
          "x-parley-attempt": String(attempts),
        },
        body: d.body,
        // A redirect would re-send the signed body to wherever it points; treat it as a failure instead.
        redirect: "manual",
        signal: AbortSignal.timeout(webhookTuning.timeoutMs),
      });
      statusCode = res.status;
      await res.body?.cancel().catch(() => {});
      if (res.status < 200 || res.status >= 300) error = `receiver answered ${res.status}`;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      error = e.name === "TimeoutError" ? `no answer within ${webhookTuning.timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    }
    if (this.ctx.database.sqlite.open === false) return;
    const at = new Date().toISOString();
    const attempt = { deliveryId: id, attempt: attempts, at, statusCode, error, durationMs: Date.now() - started };
    let result: "delivered" | "retry" | "failed";
    let outcome: Partial<DeliveryRow>;
    if (!error) {
      result = "delivered";
      outcome = { status: "delivered", attempts, lastStatusCode: statusCode, lastError: null, deliveredAt: at };
    } else {
      const delay = Math.min(webhookTuning.baseDelayMs * 2 ** (attempts - 1), webhookTuning.maxDelayMs) * (0.8 + Math.random() * 0.4);
      const next = Date.now() + delay;
      result = next - Date.parse(d.createdAt) > webhookTuning.giveUpAfterMs ? "failed" : "retry";
      outcome = { status: result === "failed" ? "failed" : "pending", attempts, lastStatusCode: statusCode, lastError: error, nextAttemptAt: new Date(next).toISOString() };
    }
    // The try and the delivery's new state land together: the log never shows an attempt the outbox does not count.
    this.ctx.db.transaction((tx) => {
      tx.insert(webhookAttempts).values(attempt).onConflictDoNothing().run();
      tx.update(webhookDeliveries).set(outcome).where(eq(webhookDeliveries.id, id)).run();
    });
    this.onAttempt(result);
    if (error) this.ctx.log[result === "failed" ? "warn" : "debug"]({ deliveryId: id, webhookId: h.id, attempts, error }, result === "failed" ? "webhook delivery given up" : "webhook delivery failed; will retry");
  }

  /** Deliveries per status, for the delivery log's header and metrics. */
  counts(webhookIds: string[]): Record<string, Record<string, number>> {
    if (!webhookIds.length) return {};
    const rows = this.ctx.db
      .select({ webhookId: webhookDeliveries.webhookId, status: webhookDeliveries.status, n: sql<number>`count(*)` })
      .from(webhookDeliveries)
      .where(inArray(webhookDeliveries.webhookId, webhookIds))
      .groupBy(webhookDeliveries.webhookId, webhookDeliveries.status)
      .all();
    const out: Record<string, Record<string, number>> = {};
    for (const r of rows) (out[r.webhookId] ??= {})[r.status] = r.n;
    return out;
  }
}
