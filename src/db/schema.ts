import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

// Times are ISO-8601 strings (UTC, millisecond precision): they sort, they
// read well in `sqlite3`, and they are what the API returns.
const now = sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`;

export const rooms = sqliteTable(
  "rooms",
  {
    id: text("id").primaryKey(),
    sessionId: text("session_id").notNull(),
    title: text("title"),
    status: text("status", { enum: ["waiting", "active", "ended"] }).notNull().default("waiting"),
    maxParticipants: integer("max_participants").notNull().default(8),
    waitingRoom: integer("waiting_room", { mode: "boolean" }).notNull().default(false),
    allowGuests: integer("allow_guests", { mode: "boolean" }).notNull().default(false),
    recordingEnabled: integer("recording_enabled", { mode: "boolean" }).notNull().default(false),
    recordingRequireConsent: integer("recording_require_consent", { mode: "boolean" }).notNull().default(true),
    /** Role labels (e.g. "coach") that get host rights in this room. */
    hostRoles: text("host_roles", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    scheduledStartTime: text("scheduled_start_time"),
    maxDuration: integer("max_duration"),
    /** What a seed-style client sent that Parley keeps but does not act on (features, aiOrb). */
    extra: text("extra", { mode: "json" }).$type<Record<string, unknown>>(),
    createdAt: text("created_at").notNull().default(now),
    prewarmedAt: text("prewarmed_at"),
    startedAt: text("started_at"),
    endedAt: text("ended_at"),
    endReason: text("end_reason"),
    endedBy: text("ended_by"),
  },
  (t) => [index("rooms_status").on(t.status), index("rooms_created").on(t.createdAt)],
);

export const sessions = sqliteTable("sessions", {
  id: text("id").primaryKey(),
  roomId: text("room_id")
    .notNull()
    .references(() => rooms.id, { onDelete: "cascade" }),
  createdAt: text("created_at").notNull().default(now),
  startedAt: text("started_at"),
  endedAt: text("ended_at"),
});

/** One row per person per room: attendance across rejoins is summed here. */
export const participants = sqliteTable(
  "participants",
  {
    roomId: text("room_id")
      .notNull()
      .references(() => rooms.id, { onDelete: "cascade" }),
    id: text("id").notNull(),
    sessionId: text("session_id").notNull(),
    name: text("name"),
    role: text("role").notNull(),
    /** The role string the token carried when it is not one of Parley's own (e.g. "coach"). */
    roleLabel: text("role_label"),
    email: text("email"),
    firstJoinedAt: text("first_joined_at"),
    lastJoinedAt: text("last_joined_at"),
    leftAt: text("left_at"),
    /** Whole seconds of completed spans; an open span is added on read. */
    totalSeconds: real("total_seconds").notNull().default(0),
    joinCount: integer("join_count").notNull().default(0),
    connected: integer("connected", { mode: "boolean" }).notNull().default(false),
    removedAt: text("removed_at"),
    createdAt: text("created_at").notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.roomId, t.id] })],
);

/** One row per connection span (join → leave), for summaries and audits. */
export const attendanceSpans = sqliteTable(
  "attendance_spans",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    roomId: text("room_id").notNull(),
    participantId: text("participant_id").notNull(),
    transport: text("transport"),
    joinedAt: text("joined_at").notNull(),
    leftAt: text("left_at"),
  },
  (t) => [index("attendance_room").on(t.roomId, t.participantId)],
);

/** Append-only (triggers in the migration refuse UPDATE and DELETE). */
export const auditLog = sqliteTable(
  "audit_log",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: text("at").notNull().default(now),
    roomId: text("room_id"),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    detail: text("detail", { mode: "json" }).$type<Record<string, unknown>>(),
  },
  (t) => [index("audit_room_at").on(t.roomId, t.at), index("audit_at").on(t.at)],
);

export const chatMessages = sqliteTable(
  "chat_messages",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    roomId: text("room_id").notNull(),
    sessionId: text("session_id").notNull(),
    fromId: text("from_id").notNull(),
    toId: text("to_id"),
    text: text("text").notNull(),
    at: text("at").notNull(),
  },
  (t) => [index("chat_room").on(t.roomId, t.at)],
);

/** Client `stats` reports (every ~10 s per participant), raw plus the figures summaries use. */
export const statsReports = sqliteTable(
  "stats_reports",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    roomId: text("room_id").notNull(),
    participantId: text("participant_id").notNull(),
    at: text("at").notNull(),
    rttMs: real("rtt_ms"),
    lossPct: real("loss_pct"),
    bitrateOut: real("bitrate_out"),
    bitrateIn: real("bitrate_in"),
    talkMs: real("talk_ms"),
    relay: integer("relay", { mode: "boolean" }),
    raw: text("raw", { mode: "json" }).$type<Record<string, unknown>>(),
  },
  (t) => [index("stats_room").on(t.roomId, t.participantId)],
);

export const recordingConsents = sqliteTable(
  "recording_consents",
  {
    roomId: text("room_id").notNull(),
    sessionId: text("session_id").notNull(),
    participantId: text("participant_id").notNull(),
    granted: integer("granted", { mode: "boolean" }).notNull(),
    at: text("at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.roomId, t.sessionId, t.participantId] })],
);

export const recordings = sqliteTable(
  "recordings",
  {
    id: text("id").primaryKey(),
    roomId: text("room_id").notNull(),
    sessionId: text("session_id").notNull(),
    participantId: text("participant_id").notNull(),
    mode: text("mode").notNull().default("self"),
    mimeType: text("mime_type").notNull(),
    status: text("status", { enum: ["UPLOADING", "PROCESSING", "READY", "FAILED"] }).notNull().default("UPLOADING"),
    format: text("format"),
    sizeBytes: integer("size_bytes").notNull().default(0),
    durationSeconds: real("duration_seconds"),
    processed: integer("processed", { mode: "boolean" }).notNull().default(false),
    failureReason: text("failure_reason"),
    filePath: text("file_path"),
    mp4Path: text("mp4_path"),
    startedAt: text("started_at").notNull(),
    endedAt: text("ended_at"),
    lastChunkAt: text("last_chunk_at"),
    expectedChunks: integer("expected_chunks"),
  },
  (t) => [index("recordings_room").on(t.roomId), index("recordings_status").on(t.status)],
);

export const recordingChunks = sqliteTable(
  "recording_chunks",
  {
    recordingId: text("recording_id")
      .notNull()
      .references(() => recordings.id, { onDelete: "cascade" }),
    index: integer("idx").notNull(),
    sizeBytes: integer("size_bytes").notNull(),
    sha256: text("sha256").notNull(),
    receivedAt: text("received_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.recordingId, t.index] })],
);

/** Background work that must survive a restart (recording processing, audio conversion). */
export const jobs = sqliteTable(
  "jobs",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    kind: text("kind").notNull(),
    ref: text("ref").notNull(),
    status: text("status", { enum: ["pending", "running", "done", "failed"] }).notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    runAt: text("run_at").notNull().default(now),
    lastError: text("last_error"),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [index("jobs_due").on(t.status, t.runAt), uniqueIndex("jobs_kind_ref").on(t.kind, t.ref)],
);

export const invites = sqliteTable(
  "invites",
  {
    id: text("id").primaryKey(),
    roomId: text("room_id")
      .notNull()
      .references(() => rooms.id, { onDelete: "cascade" }),
    participantId: text("participant_id").notNull(),
    email: text("email").notNull(),
    name: text("name"),
    role: text("role").notNull(),
    message: text("message"),
    joinUrl: text("join_url").notNull(),
    delivery: text("delivery", { enum: ["smtp", "outbox"] }).notNull(),
    status: text("status", { enum: ["scheduled", "pending", "sending", "sent", "failed"] }).notNull(),
    sendAt: text("send_at"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: text("next_attempt_at"),
    lastError: text("last_error"),
    messageId: text("message_id"),
    outboxFile: text("outbox_file"),
    sentAt: text("sent_at"),
    createdAt: text("created_at").notNull().default(now),
  },
  (t) => [index("invites_room").on(t.roomId), index("invites_due").on(t.status, t.nextAttemptAt)],
);

export const webhooks = sqliteTable("webhooks", {
  id: text("id").primaryKey(),
  url: text("url").notNull(),
  events: text("events", { mode: "json" }).$type<string[]>().notNull(),
  secret: text("secret").notNull(),
  roomId: text("room_id"),
  createdAt: text("created_at").notNull().default(now),
});

export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    webhookId: text("webhook_id")
      .notNull()
      .references(() => webhooks.id, { onDelete: "cascade" }),
    event: text("event").notNull(),
    body: text("body").notNull(),
    status: text("status", { enum: ["pending", "delivered", "failed"] }).notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: text("next_attempt_at").notNull(),
    lastStatusCode: integer("last_status_code"),
    lastError: text("last_error"),
    createdAt: text("created_at").notNull().default(now),
    deliveredAt: text("delivered_at"),
  },
  (t) => [index("deliveries_due").on(t.status, t.nextAttemptAt), index("deliveries_webhook").on(t.webhookId)],
);

/** Every try of a delivery, for the delivery log: a receiver that fails now and then shows how and when. */
export const webhookAttempts = sqliteTable(
  "webhook_attempts",
  {
    deliveryId: text("delivery_id")
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: "cascade" }),
    attempt: integer("attempt").notNull(),
    at: text("at").notNull(),
    statusCode: integer("status_code"),
    error: text("error"),
    durationMs: integer("duration_ms").notNull(),
  },
  (t) => [primaryKey({ columns: [t.deliveryId, t.attempt] })],
);

export const roomSummaries = sqliteTable("room_summaries", {
  roomId: text("room_id")
    .primaryKey()
    .references(() => rooms.id, { onDelete: "cascade" }),
  generatedAt: text("generated_at").notNull(),
  summary: text("summary", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
});

export const rtmsStreams = sqliteTable(
  "rtms_streams",
  {
    streamId: text("stream_id").primaryKey(),
    kind: text("kind", { enum: ["meeting", "engagement"] }).notNull(),
    externalId: text("external_id").notNull(),
    roomId: text("room_id").notNull(),
    status: text("status").notNull(),
    reason: text("reason"),
    audioPath: text("audio_path"),
    wavPath: text("wav_path"),
    audioBytes: integer("audio_bytes").notNull().default(0),
    startedAt: text("started_at").notNull(),
    stoppedAt: text("stopped_at"),
  },
  (t) => [index("rtms_room").on(t.roomId)],
);

export const transcriptSegments = sqliteTable(
  "transcript_segments",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    roomId: text("room_id").notNull(),
    streamId: text("stream_id").notNull(),
    seq: integer("seq").notNull(),
    speaker: text("speaker"),
    startMs: integer("start_ms").notNull(),
    endMs: integer("end_ms").notNull(),
    text: text("text").notNull(),
  },
  (t) => [uniqueIndex("segments_stream_seq").on(t.streamId, t.seq), index("segments_room").on(t.roomId, t.startMs)],
);

/** Zoom webhook deliveries already handled, so a retried delivery is ignored. */
export const zoomEvents = sqliteTable("zoom_events", {
  eventKey: text("event_key").primaryKey(),
  event: text("event").notNull(),
  receivedAt: text("received_at").notNull(),
});
