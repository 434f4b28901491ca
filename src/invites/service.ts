import { randomUUID } from "node:crypto";
import { and, asc, eq, inArray, lte, sql } from "drizzle-orm";
import type { AppContext } from "../context.js";
import { invites } from "../db/schema.js";
import { HttpProblem, notFound } from "../http/problem.js";
import { Mailer } from "./mail.js";
import { SlidingWindowLimit } from "./rateLimit.js";

export type InviteRow = typeof invites.$inferSelect;

/**
 * Delivery and abuse limits. Exported so tests can shorten the back-off;
 * the values here are the documented defaults.
 */
export const inviteTuning = {
  /** Wait before attempt n+1 after n failures; the last value repeats. */
  retryDelaysMs: [30_000, 120_000, 600_000, 1_800_000, 7_200_000],
  /** After this many failed attempts the invite ends as `failed`. */
  maxAttempts: 6,
  perRoom: { limit: 30, windowMs: 3_600_000 },
  perKey: { limit: 300, windowMs: 3_600_000 },
  /** How long `POST …/invites` waits for the first attempt before answering with the status so far. */
  firstAttemptWaitMs: 5_000,
  /** The due-sender looks again at least this often (a far `sendAt` is not one giant timer). */
  maxSleepMs: 60_000,
};

const DAY = 86400;

export interface CreateInvite {
  email: string;
  name?: string;
  role: string;
  message?: string;
  sendAt?: string;
}

/**
 * E-mail invites: each one is a personal participant token, a row in
 * `invites` (the durable outbox: scheduled and retried sends survive a
 * restart) and a mail sent by `Mailer`.
 */
export class InviteService {
  readonly mailer: Mailer;
  private readonly perRoom = new SlidingWindowLimit(inviteTuning.perRoom.limit, inviteTuning.perRoom.windowMs, "per room");
  private readonly perKey = new SlidingWindowLimit(inviteTuning.perKey.limit, inviteTuning.perKey.windowMs, "per API key");
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Map<string, Promise<void>>();
  private stopped = false;
  private running = false;

  /** Called after every send attempt (metrics). */
  onAttempt: (result: "sent" | "retry" | "failed") => void = () => {};

  constructor(private readonly ctx: AppContext) {
    this.mailer = new Mailer(ctx.config);
  }

  async create(roomId: string, input: CreateInvite, keyId: string): Promise<InviteRow> {
    const room = this.ctx.rooms.require(roomId);
    if (room.status === "ended") throw new HttpProblem(410, "room_ended", "The room has ended; no invites are sent for it.");
    this.limit(roomId, keyId);
    const sendAt = input.sendAt ? new Date(input.sendAt).toISOString() : null;
    const name = input.name ?? input.email.split("@")[0]!;
    // The link must outlive a late send: scheduled start (or the send time) + the visit + a day.
    const anchor = Math.max(Date.now(), room.scheduledStartTime ? Date.parse(room.scheduledStartTime) : 0, sendAt ? Date.parse(sendAt) : 0);
    const ttlSeconds = Math.ceil((anchor - Date.now()) / 1000) + (room.maxDuration ?? 4 * 3600) + DAY;
    const minted = this.ctx.rooms.mintToken(roomId, { name, role: input.role, ttlSeconds, email: input.email }, "api");
    const id = randomUUID();
    const now = new Date().toISOString();
    const scheduled = sendAt !== null && Date.parse(sendAt) > Date.now();
    this.ctx.db
      .insert(invites)
      .values({
        id,
        roomId,
        participantId: minted.participantId,
        email: input.email,
        name: input.name ?? null,
        role: input.role,
        message: input.message ?? null,
        joinUrl: minted.joinUrl,
        delivery: this.mailer.delivery,
        status: scheduled ? "scheduled" : "pending",
        sendAt,
        nextAttemptAt: scheduled ? sendAt : now,
        createdAt: now,
      })
      .run();
    this.ctx.audit.record(roomId, "api", "invite.created", { inviteId: id, participantId: minted.participantId, email: input.email, sendAt });
    if (!scheduled) await this.attemptSoon(id);
    else this.reschedule();
    return this.require(roomId, id);
  }

  /** Sends an invite again (same personal link), whatever its state, unless a send is under way. */
  async resend(roomId: string, inviteId: string, keyId: string): Promise<InviteRow> {
    const row = this.require(roomId, inviteId);
    if (row.status === "sending" || this.inFlight.has(inviteId)) throw new HttpProblem(409, "invite_sending", "This invite is being sent right now.");
    const room = this.ctx.rooms.require(roomId);
    if (room.status === "ended") throw new HttpProblem(410, "room_ended", "The room has ended; no invites are sent for it.");
    this.limit(roomId, keyId);
    this.ctx.db
      .update(invites)
      .set({ status: "pending", attempts: 0, nextAttemptAt: new Date().toISOString(), lastError: null })
      .where(eq(invites.id, inviteId))
      .run();
    this.ctx.audit.record(roomId, "api", "invite.resend_requested", { inviteId });
    await this.attemptSoon(inviteId);
    return this.require(roomId, inviteId);
  }

  list(roomId: string): InviteRow[] {
    this.ctx.rooms.require(roomId);
    return this.ctx.db.select().from(invites).where(eq(invites.roomId, roomId)).orderBy(asc(invites.createdAt)).all();
  }

  require(roomId: string, inviteId: string): InviteRow {
    const row = this.ctx.db
      .select()
      .from(invites)
      .where(and(eq(invites.id, inviteId), eq(invites.roomId, roomId)))
      .get();
    if (!row) throw notFound("invite", inviteId);
    return row;
  }

  start(): void {
    // A send cut by a crash or stop is tried again (the recipient may get it twice; better than never).
    this.ctx.db.update(invites).set({ status: "pending" }).where(eq(invites.status, "sending")).run();
    void this.runDue();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.allSettled([...this.inFlight.values()]);
    this.mailer.close();
  }

  private limit(roomId: string, keyId: string): void {
    this.perRoom.take(roomId);
    try {
      this.perKey.take(keyId);
    } catch (err) {
      this.perRoom.untake(roomId);
      throw err;
    }
  }

  /** Starts the first attempt and waits for it a little, so the answer usually says `sent`. */
  private async attemptSoon(id: string): Promise<void> {
    const attempt = this.attempt(id);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([attempt, new Promise<void>((r) => (timer = setTimeout(r, inviteTuning.firstAttemptWaitMs)))]);
    clearTimeout(timer);
    this.reschedule();
  }

  private attempt(id: string): Promise<void> {
    const existing = this.inFlight.get(id);
    if (existing) return existing;
    const p = this.deliver(id).finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, p);
    return p;
  }

  private async deliver(id: string): Promise<void> {
    // Claim the row: only one sender works on an invite at a time.
    const claimed = this.ctx.db
      .update(invites)
      .set({ status: "sending" })
      .where(and(eq(invites.id, id), inArray(invites.status, ["pending", "scheduled"])))
      .run();
    if (claimed.changes === 0) return;
    const row = this.ctx.db.select().from(invites).where(eq(invites.id, id)).get()!;
    const room = this.ctx.rooms.get(row.roomId);
    const attempts = row.attempts + 1;
    if (!room || room.status === "ended") {
      this.fail(row, attempts, "the room ended before the invite was sent", true);
      return;
    }
    try {
      const sent = await this.mailer.send({
        inviteId: row.id,
        to: { email: row.email, name: row.name },
        joinUrl: row.joinUrl,
        message: row.message,
        room: { title: room.title, scheduledStartTime: room.scheduledStartTime, maxDuration: room.maxDuration },
      });
      const at = new Date().toISOString();
      this.ctx.db
        .update(invites)
        // The transport in use now (PARLEY_SMTP_URL may have changed since a scheduled invite was made).
        .set({ status: "sent", delivery: this.mailer.delivery, attempts, sentAt: at, messageId: sent.messageId, outboxFile: sent.file ?? null, lastError: null, nextAttemptAt: null })
        .where(eq(invites.id, id))
        .run();
      this.onAttempt("sent");
      this.ctx.audit.record(row.roomId, "api", "invite.sent", { inviteId: row.id, participantId: row.participantId, email: row.email, delivery: this.mailer.delivery, attempts }, at);
    } catch (err) {
      this.fail(row, attempts, describe(err), false);
    }
  }

  private fail(row: InviteRow, attempts: number, reason: string, final: boolean): void {
    const last = final || attempts >= inviteTuning.maxAttempts;
    const delays = inviteTuning.retryDelaysMs;
    const delay = delays[Math.min(attempts - 1, delays.length - 1)]!;
    this.ctx.db
      .update(invites)
      .set({ status: last ? "failed" : "pending", attempts, lastError: reason, nextAttemptAt: last ? null : new Date(Date.now() + delay).toISOString() })
      .where(eq(invites.id, row.id))
      .run();
    this.onAttempt(last ? "failed" : "retry");
    if (last) {
      this.ctx.audit.record(row.roomId, "system", "invite.failed", { inviteId: row.id, email: row.email, attempts, reason });
      this.ctx.log.warn({ inviteId: row.id, attempts, reason }, "invite could not be delivered");
    } else {
      this.ctx.log.info({ inviteId: row.id, attempts, reason, retryInMs: delay }, "invite send failed; will retry");
    }
  }

  /** Sends whatever is due, then sleeps until the next due time. */
  private async runDue(): Promise<void> {
    if (this.stopped || this.running) return;
    this.running = true;
    try {
      for (;;) {
        const due = this.ctx.db
          .select({ id: invites.id })
          .from(invites)
          .where(and(inArray(invites.status, ["pending", "scheduled"]), lte(invites.nextAttemptAt, new Date().toISOString())))
          .orderBy(asc(invites.nextAttemptAt))
          .limit(20)
          .all()
          .filter((r) => !this.inFlight.has(r.id));
        if (!due.length || this.stopped) break;
        // Mail is low volume: a few at a time keeps a slow SMTP server from piling up connections.
        await Promise.allSettled(due.map((r) => this.attempt(r.id)));
      }
    } catch (err) {
      this.ctx.log.error({ err }, "invite sender failed");
    } finally {
      this.running = false;
      this.reschedule();
    }
  }

  private reschedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const next = this.ctx.db
      .select({ at: sql<string | null>`min(${invites.nextAttemptAt})` })
      .from(invites)
      .where(inArray(invites.status, ["pending", "scheduled"]))
      .get()?.at;
    if (!next) return;
    const wait = Math.min(Math.max(0, Date.parse(next) - Date.now()), inviteTuning.maxSleepMs);
    this.timer = setTimeout(() => void this.runDue(), wait);
    this.timer.unref();
  }
}

function describe(err: unknown): string {
  const e = err as { message?: string; response?: string; responseCode?: number; code?: string };
  const text = e.response ?? e.message ?? String(err);
  return `${e.code ? e.code + ": " : ""}${text}`.slice(0, 500);
}
