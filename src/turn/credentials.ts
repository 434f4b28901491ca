import { createHmac } from "node:crypto";
import type { Config } from "../config.js";
import type { IceServer } from "../signaling/protocol.js";

export interface TurnCredential {
  username: string;
  password: string;
  ttl: number;
  uris: string[];
}

/** `password = base64(HMAC-SHA1(secret, username))`: the TURN REST API form coturn's `use-auth-secret` checks. */
export function turnPassword(secret: string, username: string): string {
  return createHmac("sha1", secret).update(username).digest("base64");
}

/** Parses `<expiry>:<participantId>`; the id may itself contain colons. */
export function parseTurnUsername(username: string): { expiresAt: number; participantId: string } | undefined {
  const i = username.indexOf(":");
  if (i <= 0) return undefined;
  const expiry = Number(username.slice(0, i));
  if (!Number.isInteger(expiry)) return undefined;
  return { expiresAt: expiry * 1000, participantId: username.slice(i + 1) };
}

/**
 * The URIs browsers are given: `PARLEY_TURN_URLS` when set, otherwise a STUN
 * and a TURN/UDP URI on the public URL's host and the embedded relay's port.
 */
export function turnUris(config: Config): string[] {
  if (config.turn.urls.length) return config.turn.urls;
  const host = new URL(config.publicUrl).hostname;
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return [`stun:${h}:${config.turn.port}`, `turn:${h}:${config.turn.port}?transport=udp`];
}

export function issueTurnCredential(config: Config, participantId: string, now = Date.now()): TurnCredential {
  const ttl = config.turn.ttlSeconds;
  const username = `${Math.floor(now / 1000) + ttl}:${participantId}`;
  return { username, password: turnPassword(config.turn.secret, username), ttl, uris: turnUris(config) };
}

/** What goes into `welcome.iceServers` (empty when TURN is off). */
export function iceServersFor(config: Config, participantId: string): IceServer[] {
  if (config.turn.mode === "off") return [];
  const c = issueTurnCredential(config, participantId);
  const stun = c.uris.filter((u) => u.startsWith("stun"));
  const turn = c.uris.filter((u) => u.startsWith("turn"));
  return [...(stun.length ? [{ urls: stun }] : []), ...(turn.length ? [{ urls: turn, username: c.username, credential: c.password }] : [])];
}
