import { createHash } from "node:crypto";
import { asc, eq, sql } from "drizzle-orm";
import type { Db } from "../db/open.js";
import { rtmsStreams, transcriptSegments } from "../db/schema.js";
import type { RtmsTranscriptSegment } from "./client.js";

export type TranscriptFormat = "text" | "vtt" | "json";

/** Longest segment text kept (a runaway segment must not fill the database). */
const MAX_SEGMENT_CHARS = 10_000;

/**
 * A segment's key within its stream. The stream's own sequence number when
 * it sends one; otherwise a 48-bit digest of what the segment says and when,
 * so the same segment delivered again (after a reconnect or a restart) maps
 * to the same key and is stored once.
 */
export function segmentSeq(seg: RtmsTranscriptSegment): number {
  if (seg.seq !== undefined && Number.isSafeInteger(seg.seq) && seg.seq >= 0) return seg.seq;
  const digest = createHash("sha256").update(`${seg.startMs}\n${seg.speaker ?? ""}\n${seg.text}`).digest();
  // Offset by 2^48 so derived keys never collide with small stream-provided ones.
  return 2 ** 48 + digest.readUIntBE(0, 6);
}

/**
 * Stores a segment unless its (stream, seq) is already there. Synchronous:
 * once this returns, the segment is durable — that is what "acknowledged" means.
 * Returns true when it was new.
 */
export function storeSegment(db: Db, roomId: string, streamId: string, seg: RtmsTranscriptSegment): boolean {
  const text = seg.text.trim().slice(0, MAX_SEGMENT_CHARS);
  if (!text) return false;
  const startMs = Math.max(0, Math.round(seg.startMs));
  const endMs = Math.max(startMs, Math.round(seg.endMs));
  const res = db
    .insert(transcriptSegments)
    .values({ roomId, streamId, seq: segmentSeq(seg), speaker: seg.speaker?.trim().slice(0, 200) || null, startMs, endMs, text })
    .onConflictDoNothing({ target: [transcriptSegments.streamId, transcriptSegments.seq] })
    .run();
  return res.changes > 0;
}

export interface RoomSegment {
  streamId: string;
  seq: number;
  speaker: string | null;
  /** Milliseconds since the room's first Zoom stream started. */
  startMs: number;
  endMs: number;
  text: string;
}

/**
 * Every segment of a room in time order. A room can carry several streams
 * (a stream restarted mid-meeting); each stream's times are relative to its
 * own start, so they are shifted onto the room's timeline (the first stream's start).
 */
export function roomSegments(db: Db, roomId: string): RoomSegment[] {
  const streams = db.select({ id: rtmsStreams.streamId, startedAt: rtmsStreams.startedAt }).from(rtmsStreams).where(eq(rtmsStreams.roomId, roomId)).all();
  const starts = new Map(streams.map((s) => [s.id, Date.parse(s.startedAt)]));
  const origin = streams.length ? Math.min(...starts.values()) : 0;
  const rows = db
    .select()
    .from(transcriptSegments)
    .where(eq(transcriptSegments.roomId, roomId))
    .orderBy(asc(transcriptSegments.startMs), asc(transcriptSegments.id))
    .all();
  return rows
    .map((r) => {
      const shift = (starts.get(r.streamId) ?? origin) - origin;
      return { streamId: r.streamId, seq: r.seq, speaker: r.speaker, startMs: r.startMs + shift, endMs: r.endMs + shift, text: r.text };
    })
    .sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
}

export interface TranscriptStats {
  available: boolean;
  segments: number;
  streams: number;
  speakers: { speaker: string | null; segments: number; talkMs: number }[];
}

/** Whether a room has transcripts, and how much, for summaries. Cheap: grouped queries on an indexed column. */
export function transcriptStats(db: Db, roomId: string): TranscriptStats {
  const rows = db
    .select({
      speaker: transcriptSegments.speaker,
      segments: sql<number>`count(*)`,
      talkMs: sql<number>`sum(${transcriptSegments.endMs} - ${transcriptSegments.startMs})`,
    })
    .from(transcriptSegments)
    .where(eq(transcriptSegments.roomId, roomId))
    .groupBy(transcriptSegments.speaker)
    .all();
  const segments = rows.reduce((n, r) => n + r.segments, 0);
  const streams = segments
    ? (db
        .select({ n: sql<number>`count(distinct ${transcriptSegments.streamId})` })
        .from(transcriptSegments)
        .where(eq(transcriptSegments.roomId, roomId))
        .get()?.n ?? 0)
    : 0;
  return {
    available: segments > 0,
    segments,
    streams,
    speakers: rows.map((r) => ({ speaker: r.speaker, segments: r.segments, talkMs: r.talkMs ?? 0 })).sort((a, b) => b.talkMs - a.talkMs),
  };
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** WebVTT timestamp: HH:MM:SS.mmm (hours always present, so long meetings read the same). */
export function vttTime(ms: number): string {
  const t = Math.max(0, Math.round(ms));
  return `${pad(Math.floor(t / 3_600_000))}:${pad(Math.floor(t / 60_000) % 60)}:${pad(Math.floor(t / 1000) % 60)}.${pad(t % 1000, 3)}`;
}

/** [mm:ss], or [h:mm:ss] past the first hour. */
function clockTime(ms: number): string {
  const s = Math.floor(Math.max(0, ms) / 1000);
  const h = Math.floor(s / 3600);
  return h ? `${h}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}` : `${pad(Math.floor(s / 60))}:${pad(s % 60)}`;
}

// Cue text may not hold "<" or "&" unescaped (they start tags and entities), and a
// blank line would end the cue early, so line breaks become spaces (WebVTT §4.2.2).
const vttEscape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\s*[\r\n]+\s*/g, " ");

function toVtt(segs: RoomSegment[]): string {
  const cues = segs.map((s, i) => {
    // Zoom does not always send an end time; a cue must end after it starts,
    // so an open-ended one runs until the next cue (or one second).
    const next = segs[i + 1];
    const end = s.endMs > s.startMs ? s.endMs : next && next.startMs > s.startMs ? next.startMs : s.startMs + 1000;
    const voice = s.speaker ? `<v ${vttEscape(s.speaker)}>` : "";
    return `${i + 1}\n${vttTime(s.startMs)} --> ${vttTime(end)}\n${voice}${vttEscape(s.text)}`;
  });
  return `WEBVTT\n\n${cues.join("\n\n")}\n`;
}

function toText(segs: RoomSegment[]): string {
  return segs.map((s) => `[${clockTime(s.startMs)}] ${s.speaker ? `${s.speaker}: ` : ""}${s.text.replace(/\s*[\r\n]+\s*/g, " ")}`).join("\n") + "\n";
}

/** The transcription of a room in one format; null when Zoom delivered no segments (nothing is made up). */
export function renderTranscript(segs: RoomSegment[], format: TranscriptFormat): string | RoomSegment[] | null {
  if (segs.length === 0) return null;
  if (format === "json") return segs;
  return format === "vtt" ? toVtt(segs) : toText(segs);
}
