import { asc, eq, sql } from "drizzle-orm";
import type { AppContext } from "../context.js";
import type { Db } from "../db/open.js";
import { attendanceSpans, chatMessages, recordings, roomSummaries } from "../db/schema.js";
import { HttpProblem } from "../http/problem.js";
import { statsOf } from "./analytics.js";

/** What the RTMS module reports about a room's transcripts (loaded lazily: RTMS is optional). */
export interface TranscriptFacts {
  available: boolean;
  segments: number;
  streams: number;
  speakers: { speaker: string | null; segments: number; talkMs: number }[];
}
export type TranscriptStatsFn = (db: Db, roomId: string) => TranscriptFacts;

const seconds = (ms: number) => Math.round(ms / 1000);

/**
 * The visit's summary in the room-service seed's shape, from what Parley
 * recorded: attendance spans (summed across rejoins, clamped to the room's
 * end), talk time from the audio levels the pages reported, chat count,
 * recordings, transcripts. Parley has no language model, so the seed's
 * text fields (textSummary, keyTopics, actionItems, sentiment) are null.
 */
export function computeSummary(ctx: AppContext, roomId: string, transcriptStats?: TranscriptStatsFn) {
  ctx.attendance.flush();
  const room = ctx.rooms.require(roomId);
  const end = room.endedAt ? Date.parse(room.endedAt) : Date.now();
  const people = ctx.rooms.participantsOf(roomId);
  const spans = ctx.db.select().from(attendanceSpans).where(eq(attendanceSpans.roomId, roomId)).orderBy(asc(attendanceSpans.joinedAt)).all();

  const attendance: Record<string, Record<string, unknown>> = {};
  for (const p of people) {
    const mine = spans.filter((s) => s.participantId === p.id);
    let ms = 0;
    let lastLeave: number | null = null;
    for (const s of mine) {
      const from = Date.parse(s.joinedAt);
      // A span still open at the end (the page was closed by the end itself) stops at the end.
      const to = Math.min(s.leftAt ? Date.parse(s.leftAt) : end, end);
      ms += Math.max(0, to - from);
      lastLeave = Math.max(lastLeave ?? 0, to);
    }
    const stillIn = mine.some((s) => !s.leftAt) && !room.endedAt;
    attendance[p.id] = {
      participantId: p.id,
      name: p.name,
      role: p.roleLabel ?? p.role,
      attended: mine.length > 0,
      duration: seconds(ms),
      joinTime: mine[0]?.joinedAt ?? null,
      leaveTime: mine.length && !stillIn && lastLeave !== null ? new Date(lastLeave).toISOString() : null,
      joins: mine.length,
      removed: p.removedAt !== null,
    };
  }

  // talkMs is "spoken since the previous report", so the sum is the talk time.
  const talkMs = new Map<string, number>();
  let anyTalk = false;
  for (const r of statsOf(ctx, roomId)) {
    if (typeof r.talkMs !== "number") continue;
    anyTalk = true;
    talkMs.set(r.participantId, (talkMs.get(r.participantId) ?? 0) + r.talkMs);
  }
  const totalTalk = [...talkMs.values()].reduce((a, b) => a + b, 0);
  const participantStats: Record<string, { talkTime: number | null; talkPercentage: number | null }> = {};
  for (const p of people) {
    const t = talkMs.get(p.id);
    participantStats[p.id] = {
      talkTime: anyTalk ? seconds(t ?? 0) : null,
      talkPercentage: anyTalk && totalTalk > 0 ? Math.round(((t ?? 0) / totalTalk) * 1000) / 10 : null,
    };
  }

  const chatRows = ctx.db
    .select({ fromId: chatMessages.fromId, n: sql<number>`count(*)` })
    .from(chatMessages)
    .where(eq(chatMessages.roomId, roomId))
    .groupBy(chatMessages.fromId)
    .all();
  const recs = ctx.db.select().from(recordings).where(eq(recordings.roomId, roomId)).orderBy(asc(recordings.startedAt)).all();
  let transcript: TranscriptFacts | null = null;
  try {
    const facts = transcriptStats?.(ctx.db, roomId);
    transcript = facts?.available ? facts : null;
  } catch (err) {
    ctx.log.warn({ err, roomId }, "transcript facts unavailable for the summary");
  }

  // The seed's client reads `attendance.coach`: role labels held by exactly one person are offered as keys too.
  const byRole = <T>(map: Record<string, T>) => {
    const out: Record<string, T> = {};
    const counts = new Map<string, number>();
    for (const p of people) counts.set(p.roleLabel ?? p.role, (counts.get(p.roleLabel ?? p.role) ?? 0) + 1);
    for (const p of people) if (counts.get(p.roleLabel ?? p.role) === 1) out[p.roleLabel ?? p.role] = map[p.id]!;
    return out;
  };

  return {
    roomId: room.id,
    sessionId: room.sessionId,
    title: room.title,
    status: room.status,
    summary: {
      generatedAt: new Date().toISOString(),
      textSummary: null,
      keyTopics: null,
      actionItems: null,
      sentiment: null,
      transcriptionAvailable: transcript !== null,
      participantStats,
      participantStatsByRole: byRole(participantStats),
    },
    attendance,
    attendanceByRole: byRole(attendance),
    session: {
      scheduledStartTime: room.scheduledStartTime,
      actualStartTime: room.startedAt,
      endedAt: room.endedAt,
      endReason: room.endReason,
      duration: room.startedAt ? Math.max(0, seconds(end - Date.parse(room.startedAt))) : 0,
    },
    chat: { messages: chatRows.reduce((n, r) => n + r.n, 0), byParticipant: Object.fromEntries(chatRows.map((r) => [r.fromId, r.n])) },
    recordings: recs.map((r) => ({
      recordingId: r.id,
      participantId: r.participantId,
      status: r.status,
      format: r.format,
      sizeBytes: r.sizeBytes,
      durationSeconds: r.durationSeconds,
      startedAt: r.startedAt,
      endedAt: r.endedAt,
    })),
    transcript,
  };
}
export type RoomSummary = ReturnType<typeof computeSummary>;

/** Summaries are computed once, at the end, and kept: later reads return exactly what was announced. */
export class Summaries {
  constructor(
    private readonly ctx: AppContext,
    private readonly transcriptStats: () => TranscriptStatsFn | undefined,
  ) {}

  stored(roomId: string): RoomSummary | undefined {
    return this.ctx.db.select().from(roomSummaries).where(eq(roomSummaries.roomId, roomId)).get()?.summary as RoomSummary | undefined;
  }

  /** Computes and stores an ended room's summary; returns it. */
  generate(roomId: string): RoomSummary {
    const doc = computeSummary(this.ctx, roomId, this.transcriptStats());
    this.ctx.db
      .insert(roomSummaries)
      .values({ roomId, generatedAt: doc.summary.generatedAt, summary: doc as unknown as Record<string, unknown> })
      .onConflictDoUpdate({ target: roomSummaries.roomId, set: { generatedAt: doc.summary.generatedAt, summary: doc as unknown as Record<string, unknown> } })
      .run();
    return doc;
  }

  /** GET …/summary: only once the room has ended (409 not_ready before: the visit is not over). */
  read(roomId: string): RoomSummary {
    const room = this.ctx.rooms.require(roomId);
    if (room.status !== "ended") {
      throw new HttpProblem(409, "not_ready", "The summary is made when the room ends; until then read …/status (attendance) and …/analytics (quality), which are live.", { status: room.status });
    }
    return this.stored(roomId) ?? this.generate(roomId);
  }

  /** Ended rooms without a summary (the server stopped in between): made at start. */
  missing(limit = 100): string[] {
    return this.ctx.database.sqlite
      .prepare(`select r.id from rooms r left join room_summaries s on s.room_id = r.id where r.status = 'ended' and s.room_id is null order by r.ended_at desc limit ?`)
      .all(limit)
      .map((r) => (r as { id: string }).id);
  }
}
