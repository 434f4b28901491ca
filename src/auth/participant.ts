import type { MiddlewareHandler } from "hono";
import type { AppContext } from "../context.js";
import { HttpProblem } from "../http/problem.js";
import type { RoomRow } from "../rooms/service.js";
import { bearer } from "./apiKey.js";
import { peekRoomId, verifyParticipantToken, type Participant } from "./tokens.js";

export interface Admitted {
  participant: Participant;
  room: RoomRow;
}

/**
 * Checks a participant token against its room: signature and expiry, the
 * room exists and has not ended, the token's room is the one asked for, and
 * the participant was not removed. Every transport and route uses this one
 * function, so a token for room A never opens room B anywhere.
 */
export function authenticateParticipant(
  ctx: AppContext,
  token: string | undefined,
  expectedRoomId?: string,
  /** Recordings keep working after the room ended (final uploads, the host's download). */
  opts: { allowEnded?: boolean } = {},
): Admitted {
  if (!token) throw new HttpProblem(401, "missing_token", "Send the participant token as 'Authorization: Bearer <token>'.");
  // The room's host-role labels are needed to map roles, so look the room up before full verification.
  const peeked = peekRoomId(token);
  const peekedRoom = peeked ? ctx.rooms.get(peeked) : undefined;
  const participant = verifyParticipantToken(token, ctx.config.jwtSecret, peekedRoom?.hostRoles ?? []);
  if (expectedRoomId !== undefined && participant.roomId !== expectedRoomId) {
    throw new HttpProblem(403, "token_room_mismatch", "This token was issued for another room.");
  }
  // The verified claims name the same room that was peeked at (the signature covers it).
  const room = peekedRoom;
  if (!room) throw new HttpProblem(404, "room_not_found", `No room with id "${participant.roomId}".`);
  if (participant.sessionId && participant.sessionId !== room.sessionId) {
    throw new HttpProblem(403, "token_session_mismatch", "This token was issued for another session of this room.");
  }
  if (room.status === "ended" && !opts.allowEnded) throw new HttpProblem(410, "room_ended", "This call has ended.");
  if (ctx.rooms.isRemoved(room.id, participant.id)) throw new HttpProblem(403, "participant_removed", "You were removed from this call by the host.");
  return { participant, room };
}

/** Route middleware: sets `c.get("participant")` and `c.get("room")`. */
export function requireParticipant(ctx: AppContext): MiddlewareHandler<{ Variables: { participant: Participant; room: RoomRow } }> {
  return async (c, next) => {
    const { participant, room } = authenticateParticipant(ctx, bearer(c.req.header("authorization")));
    c.set("participant", participant);
    c.set("room", room);
    await next();
  };
}
