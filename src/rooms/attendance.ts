import { and, eq, isNull, sql } from "drizzle-orm";
import { BatchedWriter } from "../db/batchedWriter.js";
import type { Db } from "../db/open.js";
import { attendanceSpans, participants } from "../db/schema.js";
import type { DomainEvents, EventBus } from "../events/bus.js";
import type { Logger } from "../log.js";

type Op = { kind: "join"; e: DomainEvents["participant-joined"] } | { kind: "leave"; e: DomainEvents["participant-left"] };

/**
 * Attendance (who was connected, from when to when, in total across rejoins)
 * written from domain events through a BatchedWriter, so a join or leave
 * never makes the relay wait on SQLite; readers call `flush()` first.
 */
export class Attendance {
  private readonly writer: BatchedWriter<Op>;
  private readonly unsubscribe: (() => void)[];

  constructor(
    private readonly db: Db,
    bus: EventBus,
    log: Logger,
  ) {
    this.writer = new BatchedWriter<Op>(db, log, "attendance", (tx, op) => (op.kind === "join" ? this.applyJoin(tx, op.e) : this.applyLeave(tx, op.e)));
    this.unsubscribe = [
      bus.on("participant-joined", (e) => this.writer.push({ kind: "join", e })),
      bus.on("participant-left", (e) => this.writer.push({ kind: "leave", e })),
    ];
  }

  flush(): void {
    this.writer.flush();
  }

  private applyJoin = (tx: Db, e: DomainEvents["participant-joined"]): void => {
    tx.insert(participants)
      .values({
        roomId: e.roomId,
        id: e.participantId,
        sessionId: e.sessionId,
        name: e.name,
        role: e.role,
        roleLabel: e.roleLabel ?? null,
        firstJoinedAt: e.at,
        lastJoinedAt: e.at,
        joinCount: 1,
        connected: true,
        createdAt: e.at,
      })
      .onConflictDoUpdate({
        target: [participants.roomId, participants.id],
        set: {
          name: e.name,
          role: e.role,
          roleLabel: e.roleLabel ?? null,
          firstJoinedAt: sql`coalesce(${participants.firstJoinedAt}, ${e.at})`,
          lastJoinedAt: e.at,
          leftAt: null,
          joinCount: sql`${participants.joinCount} + 1`,
          connected: true,
        },
      })
      .run();
    tx.insert(attendanceSpans).values({ roomId: e.roomId, participantId: e.participantId, transport: e.transport, joinedAt: e.at }).run();
  };

  private applyLeave = (tx: Db, e: DomainEvents["participant-left"]): void => {
    const p = tx
      .select()
      .from(participants)
      .where(and(eq(participants.roomId, e.roomId), eq(participants.id, e.participantId)))
      .get();
    if (!p || !p.connected || !p.lastJoinedAt) return;
    const seconds = Math.max(0, (Date.parse(e.at) - Date.parse(p.lastJoinedAt)) / 1000);
    tx.update(participants)
      .set({ connected: false, leftAt: e.at, totalSeconds: sql`${participants.totalSeconds} + ${seconds}` })
      .where(and(eq(participants.roomId, e.roomId), eq(participants.id, e.participantId)))
      .run();
    tx.update(attendanceSpans)
      .set({ leftAt: e.at })
      .where(and(eq(attendanceSpans.roomId, e.roomId), eq(attendanceSpans.participantId, e.participantId), isNull(attendanceSpans.leftAt)))
      .run();
  };

  /**
   * After a crash nobody is connected, whatever the table says: close the
   * open spans at the last moment the server is known to have been up.
   */
  closeDangling(at: string): number {
    const open = this.db.select().from(participants).where(eq(participants.connected, true)).all();
    for (const p of open) {
      this.applyLeave(this.db, { roomId: p.roomId, sessionId: p.sessionId, participantId: p.id, role: p.role, at, reason: "server_restart", duration: 0 });
    }
    return open.length;
  }

  stop(): void {
    this.flush();
    for (const u of this.unsubscribe) u();
  }
}
