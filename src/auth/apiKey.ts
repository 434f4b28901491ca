import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { HttpProblem } from "../http/problem.js";

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Compares digests so neither the key's length nor its prefix leaks through timing. */
export function isApiKey(candidate: string | undefined, apiKey: string): boolean {
  if (!candidate) return false;
  return timingSafeEqual(digest(candidate), digest(apiKey));
}

export function bearer(header: string | undefined): string | undefined {
  const m = header?.match(/^Bearer\s+(.+)$/i);
  return m?.[1]?.trim();
}

export function requireApiKey(apiKey: string): MiddlewareHandler {
  return async (c, next) => {
    const given = bearer(c.req.header("authorization"));
    if (!given) throw new HttpProblem(401, "unauthorized", "Send the management API key as 'Authorization: Bearer <PARLEY_API_KEY>'.");
    if (!isApiKey(given, apiKey)) throw new HttpProblem(401, "unauthorized", "The API key is not valid.");
    await next();
  };
}
