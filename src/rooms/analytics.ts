import { asc, eq } from "drizzle-orm";
import type { AppContext } from "../context.js";
import { attendanceSpans, statsReports } from "../db/schema.js";

type StatsRow = typeof statsReports.$inferSelect;

/** Nearest-rank percentile of an unsorted list; null when there is nothing to rank. */
export function percentile(values: number[], p: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : null);
const round = (v: number | null, digits = 0) => (v === null ? null : Math.round(v * 10 ** digits) / 10 ** digits);
const nums = (rows: StatsRow[], pick: (r: StatsRow) => number | null) => rows.map(pick).filter((v): v is number => typeof v === "number" && Number.isFinite(v));

export function statsOf(ctx: AppContext, roomId: string): StatsRow[] {
  return ctx.db.select().from(statsReports).where(eq(statsReports.roomId, roomId)).orderBy(asc(statsReports.at)).all();
}

/**
 * Connection quality of a room from what the browsers reported in `stats`
 * (RTT, loss, bitrates, relay use) and from attendance (rejoins). Every
 * figure is null when no report carried it: nothing is estimated.
 */
export function computeAnalytics(ctx: AppContext, roomId: string) {
  ctx.attendance.flush();
  const room = ctx.rooms.require(roomId);
  const stats = statsOf(ctx, roomId);
  const byParticipant = new Map<string, StatsRow[]>();
  for (const r of stats) {
    let list = byParticipant.get(r.participantId);
    if (!list) byParticipant.set(r.participantId, (list = []));
    list.push(r);
  }
  const connectionQuality: Record<string, Record<string, number | null | boolean>> = {};
  for (const [pid, rows] of byParticipant) {
    const rtt = nums(rows, (r) => r.rttMs);
    const loss = nums(rows, (r) => r.lossPct);
    const up = nums(rows, (r) => r.bitrateOut);
    const down = nums(rows, (r) => r.bitrateIn);
    connectionQuality[pid] = {
      reports: rows.length,
      averageRTT: round(mean(rtt), 1),
      p50RTT: round(percentile(rtt, 50), 1),
      p95RTT: round(percentile(rtt, 95), 1),
      packetLoss: round(mean(loss), 2),
      p95PacketLoss: round(percentile(loss, 95), 2),
      averageUpload: round(mean(up)),
      averageDownload: round(mean(down)),
      relayed: rows.some((r) => r.relay === true),
    };
  }
  const up = nums(stats, (r) => r.bitrateOut);
  const down = nums(stats, (r) => r.bitrateIn);
  const rtt = nums(stats, (r) => r.rttMs);
  const loss = nums(stats, (r) => r.lossPct);
  const spans = ctx.db.select().from(attendanceSpans).where(eq(attendanceSpans.roomId, roomId)).all();
  const joinsBy = new Map<string, number>();
  for (const s of spans) joinsBy.set(s.participantId, (joinsBy.get(s.participantId) ?? 0) + 1);
  const reconnections = [...joinsBy.values()].reduce((n, joins) => n + Math.max(0, joins - 1), 0);
  const fallbacksUsed: string[] = [];
  if (stats.some((r) => r.relay === true)) fallbacksUsed.push("TURN");
  if (spans.some((s) => s.transport === "poll")) fallbacksUsed.push("long-poll");
  return {
    roomId: room.id,
    sessionId: room.sessionId,
    status: room.status,
    generatedAt: new Date().toISOString(),
    metrics: {
      connectionQuality,
      rtt: { p50: round(percentile(rtt, 50), 1), p95: round(percentile(rtt, 95), 1), p99: round(percentile(rtt, 99), 1) },
      packetLoss: { average: round(mean(loss), 2), p95: round(percentile(loss, 95), 2) },
      bandwidth: {
        peakUpload: up.length ? Math.max(...up) : null,
        peakDownload: down.length ? Math.max(...down) : null,
        averageUpload: round(mean(up)),
        averageDownload: round(mean(down)),
      },
      statsReports: stats.length,
      reconnections,
      fallbacksUsed,
    },
  };
}
