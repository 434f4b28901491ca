import type { Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import { bearer } from "../auth/apiKey.js";
import { authenticateParticipant, type Admitted } from "../auth/participant.js";
import type { AppContext } from "../context.js";
import { HttpProblem } from "../http/problem.js";
import { defineRoute } from "../http/route.js";
import type { Connection } from "./connection.js";
import type { Hub, Member } from "./hub.js";
import { MAX_FRAME_BYTES, POLL_DEFAULT_WAIT_S, POLL_GONE_AFTER_MS, POLL_MAX_BATCH, POLL_MAX_FRAMES, POLL_MAX_WAIT_S } from "./limits.js";
import type { Mailbox } from "./mailbox.js";
import { serverEnvelope } from "./protocol.js";
import { joinProblem, settingsOf } from "./services.js";

interface Waiter {
  after: number;
  resolve(body: string): void;
  timer: NodeJS.Timeout;
}

/**
 * A long-polling client. There is no socket: frames wait in the mailbox and
 * a held `GET messages` is answered as soon as one arrives (batched to the
 * end of the current turn of the event loop).
 */
class PollConnection implements Connection {
  readonly transport = "poll" as const;
  member: Member | undefined;
  mailbox: Mailbox | undefined;
  /** The `next` of the last answer: the default `after` of the next poll. */
  lastNext = 0;
  lastSeen = Date.now();
  waiter: Waiter | undefined;
  private flushScheduled = false;
  closed = false;

  attach(member: Member, deliveredUpTo: number): void {
    this.member = member;
    this.mailbox = member.mailbox;
    this.lastNext = deliveredUpTo;
    this.closed = false;
  }

  push(): void {
    if (this.waiter && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  close(): void {
    this.member = undefined;
    this.closed = true;
    this.flush();
  }

  /** Answers the held poll with whatever is queued (possibly nothing). */
  flush(): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = undefined;
    clearTimeout(w.timer);
    w.resolve(this.answer(w.after));
  }

  answer(after: number): string {
    const mb = this.mailbox;
    const frames = mb && mb.canReplayFrom(after) ? mb.since(after, POLL_MAX_FRAMES) : [];
    const next = after + frames.length;
    this.lastNext = next;
    this.lastSeen = Date.now();
    // Frames are already JSON: the answer is assembled, not re-serialized.
    return `{"messages":[${frames.join(",")}],"next":${next}}`;
  }

  /** One `GET messages`: at once when anything is queued, else held up to `waitMs`. */
  poll(after: number, waitMs: number): string | Promise<string> {
    this.lastSeen = Date.now();
    // A newer poll ends the older one with an empty answer.
    if (this.waiter) {
      const old = this.waiter;
      this.waiter = undefined;
      clearTimeout(old.timer);
      old.resolve(`{"messages":[],"next":${old.after}}`);
    }
    const mb = this.mailbox!;
    mb.ack(after);
    if (mb.lastSeq > after || waitMs === 0 || this.closed) return this.answer(after);
    return new Promise<string>((resolve) => {
      this.waiter = { after, resolve, timer: setTimeout(() => this.flush(), waitMs) };
    });
  }
}

const pollQuery = z.object({
  after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().describe("last seq received (default: the `next` of the previous answer)"),
  wait: z.coerce.number().min(0).max(POLL_MAX_WAIT_S).optional().describe(`seconds to hold the request when nothing is queued (0..${POLL_MAX_WAIT_S}, default ${POLL_DEFAULT_WAIT_S})`),
});
const pollAnswer = z.object({ messages: z.array(serverEnvelope), next: z.number().int() });
const postBody = z.union([z.record(z.string(), z.unknown()), z.array(z.unknown()).max(POLL_MAX_BATCH)]).describe("one client envelope or an array of them");
const firstFrame = serverEnvelope.extend({ next: z.number().int() }).loose();

/** `/api/signal/*`: the long-poll transport, for networks that block WebSockets. Same hub, same frames. */
export class PollTransport {
  private readonly conns = new Set<PollConnection>();

  constructor(
    private readonly ctx: AppContext,
    private readonly hub: Hub,
  ) {}

  count(): number {
    let n = 0;
    for (const c of this.conns) if (c.member) n++;
    return n;
  }

  private auth(c: Context): Admitted {
    return authenticateParticipant(this.ctx, bearer(c.req.header("authorization")));
  }

  /** Joins (or takes over) with a poll connection. `resume` as for the WebSocket transport. */
  private attach(a: Admitted, resume: number | undefined): PollConnection {
    const conn = new PollConnection();
    const out = this.hub.join(a.participant, settingsOf(a.room), conn, resume);
    if (!out.ok) throw joinProblem(out);
    this.conns.add(conn);
    return conn;
  }

  private current(a: Admitted): { member: Member; conn: PollConnection } | undefined {
    const member = this.hub.member(a.room.id, a.participant.id);
    return member && member.conn instanceof PollConnection ? { member, conn: member.conn } : undefined;
  }

  routes(app: Hono): void {
    const tag = "Signaling";
    defineRoute(
      app,
      {
        method: "post",
        path: "/api/signal/join",
        summary: "Join a room by long-poll: answers the `welcome` (or `waiting`) frame, its data fields also at the top level, and `next` (the `after` of the first poll)",
        tag,
        auth: "participant",
        responses: { 200: { description: "welcome or waiting", schema: firstFrame }, 409: "room_full" },
      },
      (c) => {
        const a = this.auth(c);
        const existing = this.current(a);
        const before = existing?.member.mailbox.lastSeq;
        let conn: PollConnection;
        if (existing) {
          // Joining again (a reloaded page): a fresh welcome; the others start over with it.
          conn = existing.conn;
          const out = this.hub.join(a.participant, settingsOf(a.room), conn);
          if (!out.ok) throw joinProblem(out);
        } else {
          conn = this.attach(a, undefined);
        }
        const after = before ?? conn.lastNext;
        const frames = conn.mailbox!.since(after, 1);
        const first = JSON.parse(frames[0]!) as { seq: number; data: Record<string, unknown> };
        conn.lastNext = first.seq;
        conn.lastSeen = Date.now();
        return c.json({ ...first.data, ...first, next: first.seq });
      },
    );

    defineRoute(
      app,
      {
        method: "get",
        path: "/api/signal/messages",
        summary: "Long-poll for frames after `after`; answers at once when any are queued, else holds up to `wait` seconds. A newer poll ends an older one with an empty answer.",
        tag,
        auth: "participant",
        query: pollQuery,
        responses: { 200: { description: "frames in seq order", schema: pollAnswer } },
      },
      async (c, { query }) => {
        const a = this.auth(c);
        let cur = this.current(a);
        let after = query.after;
        if (!cur) {
          // Not joined here (first poll, a switch from WebSocket, or a server restart): join, resuming from `after`.
          const conn = this.attach(a, after);
          cur = { member: conn.member!, conn };
          after = conn.lastNext;
        } else if (after !== undefined && !cur.member.mailbox.canReplayFrom(after)) {
          // The cursor is outside what the server holds: start the client over.
          const before = cur.member.mailbox.lastSeq;
          this.hub.resync(cur.member);
          after = before;
        }
        const body = await cur.conn.poll(after ?? cur.conn.lastNext, Math.round((query.wait ?? POLL_DEFAULT_WAIT_S) * 1000));
        return c.body(body, 200, { "content-type": "application/json", "cache-control": "no-store" });
      },
    );

    defineRoute(
      app,
      {
        method: "post",
        path: "/api/signal/messages",
        summary: `Send one envelope or an array (at most ${POLL_MAX_BATCH}); per-message problems come back as \`error\` frames with \`ref\``,
        tag,
        auth: "participant",
        body: postBody,
        responses: { 202: { description: "number of envelopes accepted", schema: z.object({ accepted: z.number().int() }) }, 409: "not joined", 413: "body over 64 KB" },
        middleware: [
          bodyLimit({
            maxSize: MAX_FRAME_BYTES,
            onError: () => {
              throw new HttpProblem(413, "body_too_large", `Signaling bodies are limited to ${MAX_FRAME_BYTES} bytes.`);
            },
          }),
        ],
      },
      (c, { body }) => {
        const receivedAt = performance.now();
        const a = this.auth(c);
        const member = this.hub.member(a.room.id, a.participant.id);
        if (!member) throw new HttpProblem(409, "not_joined", "Join first: POST /api/signal/join (or poll GET /api/signal/messages).");
        if (member.conn instanceof PollConnection) member.conn.lastSeen = Date.now();
        const items = Array.isArray(body) ? body : [body];
        let accepted = 0;
        for (const item of items) if (this.hub.receiveObject(member, item, receivedAt)) accepted++;
        return c.json({ accepted }, 202);
      },
    );

    defineRoute(
      app,
      {
        method: "post",
        path: "/api/signal/leave",
        summary: "Leave the room (the others get peer-left)",
        tag,
        auth: "participant",
        responses: { 200: { description: "whether the participant was present", schema: z.object({ left: z.boolean() }) } },
      },
      (c) => {
        const a = this.auth(c);
        const member = this.hub.member(a.room.id, a.participant.id);
        if (member) this.hub.disconnect(member, 1000, "left", "left");
        return c.json({ left: Boolean(member) });
      },
    );
  }

  /** Pollers silent past the limit are gone (API.md: 45 s). */
  sweep(now = Date.now()): void {
    for (const conn of this.conns) {
      const m = conn.member;
      if (!m || m.conn !== conn) {
        if (!conn.waiter) this.conns.delete(conn);
        continue;
      }
      if (!conn.waiter && now - conn.lastSeen > POLL_GONE_AFTER_MS) {
        this.conns.delete(conn);
        this.hub.disconnect(m, 1001, "stopped polling", "timeout");
      }
    }
  }

  closeAll(): void {
    for (const conn of this.conns) conn.close();
    this.conns.clear();
  }
}
