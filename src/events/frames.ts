import type { DomainEventName, DomainEvents } from "./bus.js";

/**
 * What the main application sees of the domain events, on `/events` sockets
 * and in webhooks: `{type, data}` with the room-service seed's field names
 * (`participantType`, `timestamp`, `duration`). Chat text and stats stay
 * private to the call; they are never published.
 */
export interface PublicFrame {
  type: PublicEventType;
  roomId: string;
  data: Record<string, unknown>;
}

export const PUBLIC_EVENT_TYPES = [
  "participant-joined",
  "participant-left",
  "participant-waiting",
  "participant-admitted",
  "participant-denied",
  "participant-removed",
  "room-started",
  "room-ended",
  "recording-started",
  "recording-stopped",
  "recording-ready",
  "summary-ready",
  "error",
] as const;
export type PublicEventType = (typeof PUBLIC_EVENT_TYPES)[number];

type Mapper<K extends DomainEventName> = (e: DomainEvents[K]) => Record<string, unknown>;
const mappers: { [K in PublicEventType]: Mapper<K> } = {
  "participant-joined": (e) => ({ roomId: e.roomId, sessionId: e.sessionId, participantId: e.participantId, participantType: e.roleLabel ?? e.role, name: e.name, timestamp: e.at }),
  "participant-left": (e) => ({ roomId: e.roomId, sessionId: e.sessionId, participantId: e.participantId, participantType: e.roleLabel ?? e.role, timestamp: e.at, duration: e.duration, reason: e.reason }),
  "participant-waiting": (e) => ({ roomId: e.roomId, sessionId: e.sessionId, participantId: e.participantId, name: e.name, timestamp: e.at }),
  "participant-admitted": (e) => ({ roomId: e.roomId, sessionId: e.sessionId, participantId: e.participantId, by: e.by, timestamp: e.at }),
  "participant-denied": (e) => ({ roomId: e.roomId, sessionId: e.sessionId, participantId: e.participantId, by: e.by, timestamp: e.at }),
  "participant-removed": (e) => ({ roomId: e.roomId, sessionId: e.sessionId, participantId: e.participantId, by: e.by, timestamp: e.at }),
  "room-started": (e) => ({ roomId: e.roomId, sessionId: e.sessionId, timestamp: e.at }),
  // The summary is computed right after the end (see rooms/summary.ts); `summary-ready` follows.
  "room-ended": (e) => ({ roomId: e.roomId, sessionId: e.sessionId, timestamp: e.at, reason: e.reason, endedBy: e.endedBy, finalDuration: e.finalDuration, summaryReady: false }),
  "recording-started": (e) => ({ roomId: e.roomId, sessionId: e.sessionId, recordingId: e.recordingId, participantId: e.participantId, timestamp: e.at }),
  "recording-stopped": (e) => ({ roomId: e.roomId, sessionId: e.sessionId, recordingId: e.recordingId, participantId: e.participantId, timestamp: e.at }),
  "recording-ready": (e) => ({ roomId: e.roomId, sessionId: e.sessionId, recordingId: e.recordingId, status: e.status, timestamp: e.at }),
  "summary-ready": (e) => ({ roomId: e.roomId, sessionId: e.sessionId, timestamp: e.at }),
  error: (e) => ({ roomId: e.roomId, error: e.error, message: e.message, timestamp: e.at }),
};

export function toPublicFrame(name: DomainEventName, payload: unknown): PublicFrame | undefined {
  const map = (mappers as Record<string, Mapper<never> | undefined>)[name];
  if (!map) return undefined;
  const data = map(payload as never);
  return { type: name as PublicEventType, roomId: String(data.roomId), data };
}
