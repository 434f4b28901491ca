import type { AppContext } from "../context.js";
import { HttpProblem } from "../http/problem.js";
import type { RoomRow } from "../rooms/service.js";
import { iceServersFor } from "../turn/credentials.js";
import type { HubServices, RoomSettings } from "./hub.js";
import { CLOSE } from "./protocol.js";

/** The hub's window on rooms and TURN, backed by the room service (SQL happens there, at joins and host actions only). */
export function hubServices(ctx: AppContext): HubServices {
  return {
    markStarted: (roomId) => void ctx.rooms.markStarted(roomId),
    markRemoved: (roomId, participantId, by) => ctx.rooms.markRemoved(roomId, participantId, by),
    endRoom(roomId, reason, by) {
      try {
        ctx.rooms.end(roomId, reason, by);
      } catch (err) {
        // Already ended (a REST end raced the host): the room-ended event did its work.
        if (!(err instanceof HttpProblem)) throw err;
      }
    },
    iceServersFor: (participantId) => iceServersFor(ctx.config, participantId),
  };
}

export function settingsOf(room: RoomRow): RoomSettings {
  return {
    id: room.id,
    sessionId: room.sessionId,
    title: room.title,
    status: room.status,
    waitingRoom: room.waitingRoom,
    maxParticipants: room.maxParticipants,
    recordingEnabled: room.recordingEnabled,
    recordingRequireConsent: room.recordingRequireConsent,
  };
}

/**
 * A refused token as a WebSocket close: browsers cannot read the HTTP status
 * of a refused upgrade, so the socket is accepted and closed with the code
 * (API.md) and `<problem code>: <detail>` as the reason.
 */
export function closeFor(p: HttpProblem): { code: number; reason: string } {
  const code =
    p.status === 401
      ? CLOSE.badToken
      : p.code === "room_not_found"
        ? CLOSE.roomNotFound
        : p.code === "room_ended"
          ? CLOSE.roomEnded
          : p.code === "room_full"
            ? CLOSE.roomFull
            : CLOSE.forbidden;
  return { code, reason: closeReason(`${p.code}: ${p.detail}`) };
}

/** Close reasons are limited to 123 bytes (RFC 6455 §5.5). */
export function closeReason(text: string): string {
  let s = text;
  while (Buffer.byteLength(s) > 123) s = s.slice(0, -1);
  return s;
}

/** HTTP status of a refused join on the long-poll transport. */
export function joinProblem(out: { code: string; reason: string }): HttpProblem {
  return new HttpProblem(out.code === "room_full" ? 409 : 403, out.code, out.reason);
}
