import type { AppContext } from "../context.js";
import { BatchedWriter } from "../db/batchedWriter.js";
import type { Db } from "../db/open.js";
import { chatMessages, recordingConsents, statsReports } from "../db/schema.js";
import type { DomainEvents } from "../events/bus.js";

type Op =
  | { kind: "chat"; e: DomainEvents["chat"] }
  | { kind: "stats"; e: DomainEvents["stats"] }
  | { kind: "consent"; e: DomainEvents["recording-consent"] };

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/**
 * Keeps the session record of what signaling carried — chat, quality
 * reports, recording consent (audited) — from domain events, through a
 * BatchedWriter so a relayed message never waits on SQLite.
 */
export class SessionRecordWriter {
  private readonly writer: BatchedWriter<Op>;
  private readonly unsubscribe: (() => void)[];

  constructor(private readonly ctx: AppContext) {
    this.writer = new BatchedWriter<Op>(ctx.db, ctx.log, "session record", (tx, op) => this.apply(tx, op));
    this.unsubscribe = [
      ctx.bus.on("chat", (e) => this.writer.push({ kind: "chat", e })),
      ctx.bus.on("stats", (e) => this.writer.push({ kind: "stats", e })),
      ctx.bus.on("recording-consent", (e) => this.writer.push({ kind: "consent", e })),
    ];
  }

  flush(): void {
    this.writer.flush();
  }

  private apply(tx: Db, op: Op): void {
    if (op.kind === "chat") {
      const e = op.e;
      tx.insert(chatMessages).values({ roomId: e.roomId, sessionId: e.sessionId, fromId: e.from, toId: e.to, text: e.text, at: e.at }).run();
    } else if (op.kind === "stats") {
      const { report: r, ...e } = op.e;
      tx.insert(statsReports)
        .values({
          roomId: e.roomId,
          participantId: e.participantId,
          at: e.at,
          rttMs: num(r.rttMs),
          lossPct: num(r.lossPct),
          bitrateOut: num(r.bitrateOut),
          bitrateIn: num(r.bitrateIn),
          talkMs: num(r.talkMs),
          relay: typeof r.relay === "boolean" ? r.relay : null,
          raw: r,
        })
        .run();
    } else {
      const e = op.e;
      tx.insert(recordingConsents)
        .values({ roomId: e.roomId, sessionId: e.sessionId, participantId: e.participantId, granted: e.granted, at: e.at })
        .onConflictDoUpdate({ target: [recordingConsents.roomId, recordingConsents.sessionId, recordingConsents.participantId], set: { granted: e.granted, at: e.at } })
        .run();
      this.ctx.audit.record(e.roomId, e.participantId, e.granted ? "recording.consent_granted" : "recording.consent_withdrawn", { sessionId: e.sessionId }, e.at);
    }
  }

  stop(): void {
    this.flush();
    for (const u of this.unsubscribe) u();
  }
}
