import type { Context } from "hono";
import { bearer, isApiKey } from "../auth/apiKey.js";
import { authenticateParticipant } from "../auth/participant.js";
import { isHostLike, type Participant } from "../auth/tokens.js";
import type { AppContext } from "../context.js";
import { HttpProblem } from "../http/problem.js";

export type Caller = { kind: "apiKey" } | { kind: "participant"; participant: Participant };

/** The bearer token, or `?token=` so a plain download link works in a browser (the access log never logs query strings). */
export function credential(c: Context): string | undefined {
  return bearer(c.req.header("authorization")) ?? (c.req.query("token") || undefined);
}

/**
 * A participant of `roomId`. Unlike joining, recordings must keep working
 * after the room ended: the browser finishes its upload, and the host
 * downloads the file, once everyone has left.
 */
export function participantOf(ctx: AppContext, token: string | undefined, roomId: string): Participant {
  return authenticateParticipant(ctx, token, roomId, { allowEnded: true }).participant;
}

/** The API key, or a participant token of `roomId` that passes `allow`. */
export function apiKeyOr(ctx: AppContext, c: Context, roomId: string, allow: (p: Participant) => boolean, refusal: string): Caller {
  const token = credential(c);
  if (!token) throw new HttpProblem(401, "unauthorized", "Send the API key or a participant token as 'Authorization: Bearer …'.");
  if (isApiKey(token, ctx.config.apiKey)) return { kind: "apiKey" };
  const participant = participantOf(ctx, token, roomId);
  if (!allow(participant)) throw new HttpProblem(403, "host_required", refusal);
  return { kind: "participant", participant };
}

export const hostOfRoom = (p: Participant) => isHostLike(p);
export const actorOf = (caller: Caller) => (caller.kind === "apiKey" ? "api" : caller.participant.id);
