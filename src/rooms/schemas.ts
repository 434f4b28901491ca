import { z } from "zod";

const id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:@-]+$/, "may only contain letters, digits and . _ : @ -");
const isoDate = z.iso.datetime({ offset: true, message: "must be an ISO-8601 date-time" });
export const roleSchema = z.string().min(1).max(64).regex(/^[a-z][a-z0-9_-]*$/i, "must be a word such as host, participant or coach");

export const participantInput = z.object({
  id: id.optional(),
  name: z.string().trim().min(1).max(120),
  role: roleSchema.default("participant"),
  email: z.email().max(254).optional(),
});

export const recordingSettings = z.object({
  enabled: z.boolean().default(false),
  requireConsent: z.boolean().default(true),
});

export const createRoomBody = z.object({
  roomId: id.optional(),
  sessionId: id.optional(),
  title: z.string().trim().max(200).optional(),
  maxParticipants: z.number().int().min(2).max(50).default(8),
  waitingRoom: z.boolean().default(false),
  allowGuests: z.boolean().default(false),
  recording: recordingSettings.optional(),
  scheduledStartTime: isoDate.optional(),
  maxDuration: z.number().int().min(60).max(7 * 86400).optional(),
  /** Role labels (e.g. "coach") that get host rights in this room. */
  hostRoles: z.array(roleSchema).max(10).optional(),
  participants: z.array(participantInput).max(50).default([]),
});
export type CreateRoomBody = z.output<typeof createRoomBody>;

/** The room-service seed's body (`POST /api/rooms/create`). */
const seedParticipant = z.object({ id: id, token: z.string().max(8192).optional() });
export const seedCreateBody = z.object({
  roomId: id,
  sessionId: id.optional(),
  participants: z
    .object({ coach: seedParticipant.optional(), client: seedParticipant.optional() })
    .catchall(z.unknown())
    .default({}),
  config: z
    .object({
      scheduledStartTime: isoDate.optional(),
      maxDuration: z.number().int().min(60).max(7 * 86400).optional(),
      features: z.record(z.string(), z.unknown()).optional(),
    })
    .catchall(z.unknown())
    .default({}),
});

export const patchConfigBody = z
  .object({
    title: z.string().trim().max(200).optional(),
    waitingRoom: z.boolean().optional(),
    allowGuests: z.boolean().optional(),
    maxParticipants: z.number().int().min(2).max(50).optional(),
    recording: recordingSettings.partial().optional(),
    maxDuration: z.number().int().min(60).max(7 * 86400).nullable().optional(),
    scheduledStartTime: isoDate.nullable().optional(),
    hostRoles: z.array(roleSchema).max(10).optional(),
    /** Seed shape: `features.recording` toggles recording. */
    features: z.object({ recording: z.boolean().optional() }).catchall(z.unknown()).optional(),
  })
  .catchall(z.unknown());

export const endRoomBody = z.object({
  reason: z.string().trim().min(1).max(100).default("ended_by_api"),
  requestedBy: z.string().trim().min(1).max(128).optional(),
});

export const mintTokenBody = z.object({
  id: id.optional(),
  name: z.string().trim().min(1).max(120),
  role: roleSchema.default("participant"),
  ttlSeconds: z.number().int().min(60).max(30 * 86400).default(86400),
});

export const bulkStatusBody = z.object({ roomIds: z.array(id).min(1).max(500) });
export const prewarmBody = z.object({ scheduledStartTime: isoDate.optional() });
export const guestBody = z.object({ name: z.string().trim().min(1).max(80) });
export const listRoomsQuery = z.object({
  status: z.enum(["waiting", "active", "ended"]).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export const participantStatus = z.object({
  id: z.string(),
  role: z.string(),
  name: z.string().nullable(),
  connected: z.boolean(),
  joinedAt: z.string().nullable(),
  leftAt: z.string().nullable(),
  totalDuration: z.number(),
});
export const roomStatus = z.object({
  roomId: z.string(),
  sessionId: z.string(),
  status: z.enum(["waiting", "active", "ended"]),
  participants: z.record(z.string(), participantStatus),
  actualStartTime: z.string().nullable(),
  currentDuration: z.number(),
});

export const roomView = z.object({
  roomId: z.string(),
  sessionId: z.string(),
  title: z.string().nullable(),
  status: z.enum(["waiting", "active", "ended"]),
  maxParticipants: z.number(),
  waitingRoom: z.boolean(),
  allowGuests: z.boolean(),
  recording: z.object({ enabled: z.boolean(), requireConsent: z.boolean() }),
  hostRoles: z.array(z.string()),
  scheduledStartTime: z.string().nullable(),
  maxDuration: z.number().nullable(),
  joinUrl: z.string(),
  websocketUrl: z.string(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  endReason: z.string().nullable(),
});
export const createdRoom = roomView.extend({
  participants: z.array(z.object({ id: z.string(), name: z.string(), role: z.string(), token: z.string(), joinUrl: z.string() })),
});
export const mintedToken = z.object({ participantId: z.string(), token: z.string(), joinUrl: z.string(), expiresAt: z.string() });
