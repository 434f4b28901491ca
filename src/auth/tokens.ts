import jwt from "jsonwebtoken";
import { createSecretKey, randomUUID, type KeyObject } from "node:crypto";
import { z } from "zod";
import { HttpProblem } from "../http/problem.js";

export const PARLEY_ROLES = ["host", "moderator", "participant", "viewer"] as const;
export type Role = (typeof PARLEY_ROLES)[number];

/** The claims Parley reads. Other apps' tokens carry extra claims; they are kept, not required. */
const claimsSchema = z
  .object({
    sub: z.string().min(1).max(200).optional(),
    userId: z.string().min(1).max(200).optional(),
    roomId: z.string().min(1).max(200),
    sessionId: z.string().max(200).optional(),
    role: z.string().min(1).max(64).default("participant"),
    name: z.string().max(200).optional(),
    permissions: z.array(z.string()).optional(),
    guest: z.boolean().optional(),
    exp: z.number(),
  })
  .refine((c) => c.sub || c.userId, { message: "sub or userId is required" });

export interface Participant {
  id: string;
  roomId: string;
  sessionId?: string;
  /** Parley's role, what rights are checked against. */
  role: Role;
  /** The role string the token carried when it is not a Parley role (e.g. "coach"), for display. */
  roleLabel?: string;
  name: string;
  permissions?: string[];
  guest: boolean;
  expiresAt: number;
}

/**
 * Verifies a participant token. Only HS256 is accepted: `alg: none` and
 * asymmetric algorithms are refused by jsonwebtoken when the list is given,
 * which is what stops a forged unsigned token.
 */
export function verifyParticipantToken(token: string, secret: string, hostRoles: readonly string[] = []): Participant {
  let payload: unknown;
  try {
    payload = jwt.verify(token, secretKey(secret), { algorithms: ["HS256"] });
  } catch (err) {
    if (err instanceof jwt.TokenExpiredError) throw new HttpProblem(401, "token_expired", "The participant token has expired; ask for a new link.");
    if (err instanceof jwt.NotBeforeError) throw new HttpProblem(401, "token_not_active", "The participant token is not valid yet.");
    throw new HttpProblem(401, "invalid_token", "The participant token is malformed or its signature is wrong.");
  }
  const parsed = claimsSchema.safeParse(payload);
  if (!parsed.success) throw new HttpProblem(401, "invalid_token", `The participant token lacks required claims (${parsed.error.issues[0]!.message}).`);
  const c = parsed.data;
  return toParticipant(c, hostRoles);
}

const keys = new Map<string, KeyObject>();

/**
 * Given a string, jsonwebtoken first tries it as a PEM public key (and
 * throws) on every call; a secret KeyObject made once skips that, which
 * matters on long-poll, where every request is authenticated.
 */
function secretKey(secret: string): KeyObject {
  let key = keys.get(secret);
  if (!key) keys.set(secret, (key = createSecretKey(Buffer.from(secret, "utf8"))));
  return key;
}

/** Reads claims without verifying (only to find which room a token names before its room's settings are known). */
export function peekRoomId(token: string): string | undefined {
  const decoded = jwt.decode(token);
  return decoded && typeof decoded === "object" && typeof decoded.roomId === "string" ? decoded.roomId : undefined;
}

function toParticipant(c: z.output<typeof claimsSchema>, hostRoles: readonly string[]): Participant {
  const isParleyRole = (PARLEY_ROLES as readonly string[]).includes(c.role);
  const role: Role = isParleyRole ? (c.role as Role) : hostRoles.includes(c.role) ? "host" : "participant";
  return {
    id: (c.sub ?? c.userId)!,
    roomId: c.roomId,
    sessionId: c.sessionId,
    role,
    roleLabel: isParleyRole ? undefined : c.role,
    name: c.name?.trim() || (c.sub ?? c.userId)!,
    permissions: c.permissions,
    guest: c.guest ?? false,
    expiresAt: c.exp * 1000,
  };
}

export interface MintInput {
  id?: string;
  roomId: string;
  sessionId: string;
  role: string;
  name: string;
  ttlSeconds: number;
  guest?: boolean;
}

export function signParticipantToken(secret: string, input: MintInput): { participantId: string; token: string; expiresAt: string } {
  const participantId = input.id ?? randomUUID();
  const exp = Math.floor(Date.now() / 1000) + input.ttlSeconds;
  const token = jwt.sign(
    {
      sub: participantId,
      roomId: input.roomId,
      sessionId: input.sessionId,
      role: input.role,
      name: input.name,
      permissions: ["video", "audio", "screen-share"],
      ...(input.guest ? { guest: true } : {}),
      exp,
    },
    secret,
    { algorithm: "HS256" },
  );
  return { participantId, token, expiresAt: new Date(exp * 1000).toISOString() };
}

export const isHostLike = (p: Pick<Participant, "role">) => p.role === "host" || p.role === "moderator";
