import { and, asc, gte, lte, eq, type SQL } from "drizzle-orm";
import type { Db } from "../db/open.js";
import { auditLog } from "../db/schema.js";

export interface AuditEntry {
  id: number;
  at: string;
  roomId: string | null;
  actor: string;
  action: string;
  detail: Record<string, unknown> | null;
}

/**
 * Who did what, when. Rows are append-only: the migration installs triggers
 * that refuse UPDATE and DELETE, so not even a bug here can rewrite history.
 */
export class AuditLog {
  constructor(private readonly db: Db) {}

  record(roomId: string | null, actor: string, action: string, detail?: Record<string, unknown>, at = new Date().toISOString()): void {
    this.db.insert(auditLog).values({ roomId, actor, action, detail: detail ?? null, at }).run();
  }

  list(filter: { roomId?: string; from?: string; to?: string; action?: string; limit?: number }): AuditEntry[] {
    const where: SQL[] = [];
    if (filter.roomId) where.push(eq(auditLog.roomId, filter.roomId));
    if (filter.action) where.push(eq(auditLog.action, filter.action));
    if (filter.from) where.push(gte(auditLog.at, filter.from));
    if (filter.to) where.push(lte(auditLog.at, filter.to));
    return this.db
      .select()
      .from(auditLog)
      .where(where.length ? and(...where) : undefined)
      .orderBy(asc(auditLog.id))
      .limit(filter.limit ?? 1000)
      .all() as AuditEntry[];
  }
}
