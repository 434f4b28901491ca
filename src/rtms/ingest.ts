import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { and, eq, inArray, isNull, lt, sql } from "drizzle-orm";
import type { AppContext } from "../context.js";
import { rtmsStreams, zoomEvents } from "../db/schema.js";
import { AudioCapture } from "./capture.js";
import { AUDIO_PARAMS, type RtmsClient, type RtmsClientFactory } from "./client.js";
import { WavJobs } from "./convert.js";
import { loadSdk } from "./sdk.js";
import { joinSignature } from "./signature.js";
import { storeSegment } from "./transcript.js";

export type StreamKind = "meeting" | "engagement";
export type StreamRow = typeof rtmsStreams.$inferSelect;

/**
 * `rtms_streams.status`:
 * - `joining` → `capturing` while audio and transcripts arrive;
 * - `ingest_unavailable` (no SDK, no credentials — `reason` says which) or `join_failed`;
 * - after the stop: `converting` → `ready` (WAV written), `raw_only` (no ffmpeg),
 *   `failed`, or `stopped` when no audio came at all.
 */
export type StreamStatus = "joining" | "capturing" | "ingest_unavailable" | "join_failed" | "converting" | "ready" | "raw_only" | "failed" | "stopped";

export interface StreamStart {
  kind: StreamKind;
  /** meeting_uuid or engagement_id. */
  externalId: string;
  streamId: string;
  serverUrls: string;
  title?: string;
}

/** How often the captured byte count is written back while a stream runs. */
const PERSIST_BYTES_EVERY_MS = 1000;
/** How long handled Zoom deliveries are remembered for recognising retries. */
const ZOOM_EVENT_KEY_DAYS = 7;
/** How long a shutdown waits for stream tasks in flight. */
const STOP_WAIT_MS = 5000;

const SAFE_ID = /^[A-Za-z0-9_-]{1,100}$/;
const digest16 = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 16);

/**
 * Zoom ids are base64 (`+`, `/`, `=`); room ids and file names are not.
 * The base64url spelling keeps them readable and distinct; anything else is hashed.
 */
function safeId(id: string): string {
  const b64url = id.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return SAFE_ID.test(b64url) ? b64url : `h${digest16(id)}`;
}

/**
 * The Parley room of a Zoom meeting (`zoom-<id>`) or Contact Center
 * engagement (`zoom-cc.<id>`): deterministic, so the main app can find it
 * from the id it already knows, and every stream of a meeting lands in one room.
 */
export function zoomRoomId(kind: StreamKind, externalId: string): string {
  return kind === "meeting" ? `zoom-${safeId(externalId)}` : `zoom-cc.${safeId(externalId)}`;
}

interface LiveStream {
  streamId: string;
  roomId: string;
  client?: RtmsClient;
  capture?: AudioCapture;
  /** Set once the stream is being finished (or the server stops): late callbacks are dropped. */
  ended: boolean;
  persistedAt: number;
}

type Availability = { ok: true; factory: RtmsClientFactory; clientId: string; clientSecret: string } | { ok: false; reason: string };

/**
 * Turns verified Zoom events into Parley state: a room per meeting or
 * engagement, a row per stream, a live capture per joined stream, and the
 * WAV conversion when a stream stops.
 */
export class RtmsIngest {
  readonly dir: string;
  readonly wav: WavJobs;
  private availability: Availability = { ok: false, reason: "not started" };
  private readonly live = new Map<string, LiveStream>();
  /** One queue per stream, so a stop never overtakes its join. */
  private readonly chains = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(
    private readonly ctx: AppContext,
    private readonly opts: { clientFactory?: RtmsClientFactory } = {},
  ) {
    this.dir = join(ctx.config.dataDir, "rtms");
    this.wav = new WavJobs(ctx);
  }

  /** Why streams cannot be captured, or null when they can. */
  get unavailableReason(): string | null {
    return this.availability.ok ? null : this.availability.reason;
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const { zoom } = this.ctx.config;
    const reasons: string[] = [];
    if (!zoom.clientId) reasons.push("ZOOM_CLIENT_ID is unset");
    if (!zoom.clientSecret) reasons.push("ZOOM_CLIENT_SECRET is unset");
    let factory = this.opts.clientFactory;
    if (!factory) {
      const sdk = await loadSdk();
      if (sdk.ok) factory = sdk.factory;
      else reasons.push(sdk.reason);
    }
    this.availability =
      reasons.length === 0 && factory ? { ok: true, factory, clientId: zoom.clientId!, clientSecret: zoom.clientSecret! } : { ok: false, reason: reasons.join("; ") };

    // One line at start-up, so an operator sees at once why Zoom audio is not arriving.
    if (!zoom.webhookSecret && !zoom.clientId && !zoom.clientSecret) {
      this.ctx.log.info("Zoom RTMS ingest is off: ZOOM_WEBHOOK_SECRET, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET are unset");
    } else if (!this.availability.ok || !zoom.webhookSecret) {
      const why = [...(zoom.webhookSecret ? [] : ["ZOOM_WEBHOOK_SECRET is unset, so /webhooks/zoom answers 503"]), ...(this.availability.ok ? [] : [this.availability.reason])];
      this.ctx.log.warn(
        { reason: why.join("; ") },
        `Zoom RTMS ingest unavailable: ${why.join("; ")}. Verified webhooks are still answered; their streams are recorded as ingest_unavailable.`,
      );
    } else {
      this.ctx.log.info("Zoom RTMS ingest ready");
    }

    // Deliveries are only retried for hours; a week of keys is plenty to recognise them.
    const horizon = new Date(Date.now() - ZOOM_EVENT_KEY_DAYS * 86_400_000).toISOString();
    this.ctx.db.delete(zoomEvents).where(lt(zoomEvents.receivedAt, horizon)).run();

    const resumedJobs = this.wav.resume();
    if (resumedJobs) this.ctx.log.info({ jobs: resumedJobs }, "resuming RTMS audio conversions");
    this.resumeStreams();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Leaving is not stopping: streams stay `capturing` and are rejoined at the next start.
    await Promise.allSettled(
      [...this.live.values()].map(async (l) => {
        l.ended = true;
        await l.client?.leave().catch(() => {});
        await l.capture?.close();
        if (l.capture) this.ctx.db.update(rtmsStreams).set({ audioBytes: l.capture.size }).where(eq(rtmsStreams.streamId, l.streamId)).run();
      }),
    );
    this.live.clear();
    // A join waiting for Zoom's confirmation is not worth holding the shutdown for.
    await Promise.race([Promise.allSettled([...this.chains.values()]), new Promise((r) => setTimeout(r, STOP_WAIT_MS).unref())]);
    await this.wav.stop();
  }

  stream(streamId: string): StreamRow | undefined {
    return this.ctx.db.select().from(rtmsStreams).where(eq(rtmsStreams.streamId, streamId)).get();
  }

  /**
   * A `*.rtms_started` event. The database part is synchronous (the webhook
   * answers after it); joining runs in the background.
   */
  started(ev: StreamStart): StreamRow {
    const { rooms, db, audit } = this.ctx;
    const roomId = zoomRoomId(ev.kind, ev.externalId);
    if (!rooms.get(roomId)) {
      rooms.create(
        {
          roomId,
          title: (ev.title?.trim() || (ev.kind === "meeting" ? `Zoom meeting ${ev.externalId}` : `Zoom Contact Center engagement ${ev.externalId}`)).slice(0, 200),
          maxParticipants: 8,
          waitingRoom: false,
          allowGuests: false,
          participants: [],
          extra: { source: "zoom", zoomKind: ev.kind, zoomId: ev.externalId },
        },
        "zoom",
      );
    }
    const existing = this.stream(ev.streamId);
    if (existing && (existing.stoppedAt || this.live.has(ev.streamId))) return existing; // a retried start
    const at = new Date().toISOString();
    const status: StreamStatus = this.availability.ok ? "joining" : "ingest_unavailable";
    const reason = this.availability.ok ? null : this.availability.reason;
    if (existing) {
      db.update(rtmsStreams).set({ status, reason }).where(eq(rtmsStreams.streamId, ev.streamId)).run();
    } else {
      db.insert(rtmsStreams)
        .values({ streamId: ev.streamId, kind: ev.kind, externalId: ev.externalId, roomId, status, reason, audioPath: this.rawPath(ev.streamId), startedAt: at })
        .run();
      audit.record(roomId, "zoom", "rtms.stream_started", { streamId: ev.streamId, kind: ev.kind, status, ...(reason ? { reason } : {}) }, at);
    }
    if (rooms.require(roomId).status === "waiting") rooms.markStarted(roomId, at);
    // Kept beside the audio so a restart can rejoin the stream (the servers are only in the started event).
    writeFileSync(this.joinInfoPath(ev.streamId), JSON.stringify({ serverUrls: ev.serverUrls }));
    if (this.availability.ok) this.queue(ev.streamId, () => this.join(ev.streamId));
    return this.stream(ev.streamId)!;
  }

  /** A `*.rtms_stopped` event (or the stream ending on its own): finish capture, convert, maybe end the room. */
  stopped(streamId: string, why: string): Promise<void> {
    return this.queue(streamId, () => this.finish(streamId, why));
  }

  /** Resolves when everything queued for the stream, and its WAV conversion, is done (tests, shutdown). */
  async settled(streamId: string): Promise<void> {
    await this.chains.get(streamId);
    await this.wav.settled(streamId);
  }

  private queue(streamId: string, task: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(streamId) ?? Promise.resolve();
    const next = prev
      .then(task)
      .catch((err) => this.ctx.log.error({ err, streamId }, "RTMS stream task failed"))
      .finally(() => {
        if (this.chains.get(streamId) === next) this.chains.delete(streamId);
      });
    this.chains.set(streamId, next);
    return next;
  }

  private rawPath(streamId: string): string {
    return join(this.dir, `${safeId(streamId)}.raw`);
  }

  private joinInfoPath(streamId: string): string {
    return join(this.dir, `${safeId(streamId)}.join.json`);
  }

  /**
   * Streams a previous run was capturing when it stopped: rejoin them (Zoom
   * holds a stream open for a reconnect). Streams that could not be joined
   * before (no SDK then) are tried too, if they have not stopped since.
   */
  private resumeStreams(): void {
    const open = this.ctx.db
      .select()
      .from(rtmsStreams)
      .where(and(isNull(rtmsStreams.stoppedAt), inArray(rtmsStreams.status, ["joining", "capturing", "ingest_unavailable"])))
      .all();
    for (const s of open) {
      if (s.status === "ingest_unavailable" && (!this.availability.ok || !existsSync(this.joinInfoPath(s.streamId)))) continue;
      if (!this.availability.ok) {
        this.ctx.db.update(rtmsStreams).set({ status: "ingest_unavailable", reason: this.availability.reason }).where(eq(rtmsStreams.streamId, s.streamId)).run();
        continue;
      }
      this.ctx.log.info({ streamId: s.streamId, roomId: s.roomId }, "rejoining RTMS stream after restart");
      this.queue(s.streamId, () => this.join(s.streamId));
    }
  }

  private async join(streamId: string): Promise<void> {
    const row = this.stream(streamId);
    if (this.stopping || !this.availability.ok || !row || row.stoppedAt || this.live.has(streamId)) return;
    const { factory, clientId, clientSecret } = this.availability;
    let serverUrls: string;
    try {
      serverUrls = (JSON.parse(readFileSync(this.joinInfoPath(streamId), "utf8")) as { serverUrls: string }).serverUrls;
    } catch {
      this.setStatus(streamId, "join_failed", "the stream's server URLs were lost (no join info on disk)");
      return;
    }
    const live: LiveStream = { streamId, roomId: row.roomId, ended: false, persistedAt: Date.now() };
    this.live.set(streamId, live);
    live.capture = new AudioCapture(this.rawPath(streamId));
    live.client = factory();
    const { db, log } = this.ctx;
    try {
      await live.client.join(
        {
          kind: row.kind,
          ...(row.kind === "meeting" ? { meetingUuid: row.externalId } : { engagementId: row.externalId }),
          streamId,
          serverUrls,
          signature: joinSignature(clientId, clientSecret, row.externalId, streamId),
          clientId,
          audioParams: AUDIO_PARAMS,
          streamStartedAtMs: Date.parse(row.startedAt),
        },
        {
          // Callbacks come from the SDK's thread hop: they must never throw back into it.
          onAudio: (frame, timestampMs) => {
            if (live.ended || !live.capture) return;
            live.capture.write(frame, timestampMs);
            if (Date.now() - live.persistedAt >= PERSIST_BYTES_EVERY_MS) {
              live.persistedAt = Date.now();
              try {
                db.update(rtmsStreams).set({ audioBytes: live.capture.size }).where(eq(rtmsStreams.streamId, streamId)).run();
              } catch (err) {
                log.warn({ err, streamId }, "could not record RTMS audio progress");
              }
            }
          },
          onTranscript: (seg) => {
            if (live.ended) return;
            try {
              storeSegment(db, live.roomId, streamId, seg);
            } catch (err) {
              log.error({ err, streamId }, "could not store an RTMS transcript segment");
            }
          },
          onLeave: (reason) => {
            if (live.ended || this.stopping) return;
            log.info({ streamId, reason }, "RTMS stream left");
            void this.stopped(streamId, `stream ended: ${reason}`);
          },
        },
      );
    } catch (err) {
      live.ended = true;
      this.live.delete(streamId);
      await live.client.leave().catch(() => {});
      await live.capture.close();
      if (this.stopping) return; // the shutdown cut the join short; the next start rejoins
      this.setStatus(streamId, "join_failed", `join failed: ${(err as Error).message}`);
      log.warn({ err, streamId }, "could not join the RTMS stream");
      return;
    }
    if (live.ended) return;
    this.setStatus(streamId, "capturing", null);
    log.info({ streamId, roomId: row.roomId }, "RTMS stream joined");
  }

  private async finish(streamId: string, why: string): Promise<void> {
    const live = this.live.get(streamId);
    if (live) {
      live.ended = true;
      this.live.delete(streamId);
      await live.client?.leave().catch((err) => this.ctx.log.warn({ err, streamId }, "RTMS leave failed"));
      await live.capture?.close();
      if (live.capture?.error) this.ctx.log.error({ err: live.capture.error, streamId }, "writing RTMS audio failed");
    }
    const row = this.stream(streamId);
    if (!row) return;
    if (!row.stoppedAt) {
      const raw = row.audioPath;
      const bytes = raw && existsSync(raw) ? statSync(raw).size : 0;
      const status: StreamStatus = bytes > 0 ? "converting" : row.status === "ingest_unavailable" || row.status === "join_failed" ? (row.status as StreamStatus) : "stopped";
      const at = new Date().toISOString();
      this.ctx.db
        .update(rtmsStreams)
        .set({ stoppedAt: at, audioBytes: bytes, status, ...(status === "stopped" ? { reason: why } : {}) })
        .where(eq(rtmsStreams.streamId, streamId))
        .run();
      rmSync(this.joinInfoPath(streamId), { force: true });
      this.ctx.audit.record(row.roomId, "zoom", "rtms.stream_stopped", { streamId, why, audioBytes: bytes }, at);
      if (bytes > 0) this.wav.enqueue(streamId);
    }
    this.endRoomIfLastStream(row.roomId);
  }

  /** A meeting can carry several streams; its room ends when the last one stops. */
  private endRoomIfLastStream(roomId: string): void {
    const open = this.ctx.db
      .select({ n: sql<number>`count(*)` })
      .from(rtmsStreams)
      .where(and(eq(rtmsStreams.roomId, roomId), isNull(rtmsStreams.stoppedAt)))
      .get();
    if ((open?.n ?? 0) > 0) return;
    const room = this.ctx.rooms.get(roomId);
    if (room && room.status !== "ended") this.ctx.rooms.end(roomId, "zoom_stream_stopped", "zoom");
  }

  private setStatus(streamId: string, status: StreamStatus, reason: string | null): void {
    this.ctx.db.update(rtmsStreams).set({ status, reason }).where(eq(rtmsStreams.streamId, streamId)).run();
  }
}
