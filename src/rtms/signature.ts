import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Zoom signs every webhook delivery, the URL validation challenge included:
 * `x-zm-signature: v0=<hex HMAC-SHA256(secret, "v0:" + x-zm-request-timestamp + ":" + raw body)>`.
 * A delivery older (or newer) than this is refused, so a captured request
 * cannot be replayed later.
 */
export const MAX_WEBHOOK_AGE_SECONDS = 300;

const hmacHex = (secret: string, message: string) => createHmac("sha256", secret).update(message, "utf8").digest("hex");

export type WebhookCheck = { ok: true } | { ok: false; code: "invalid_signature" | "stale_timestamp"; detail: string };

/**
 * Checks a delivery's signature (constant time) and then its age. The raw
 * body must be the exact bytes received: re-serialised JSON would not match.
 */
export function verifyZoomWebhook(
  secret: string,
  headers: { signature: string | undefined; timestamp: string | undefined },
  rawBody: string,
  nowMs = Date.now(),
): WebhookCheck {
  const { signature, timestamp } = headers;
  if (!signature || !timestamp) {
    return { ok: false, code: "invalid_signature", detail: "The x-zm-signature and x-zm-request-timestamp headers are required." };
  }
  const expected = Buffer.from(`v0=${hmacHex(secret, `v0:${timestamp}:${rawBody}`)}`, "utf8");
  const given = Buffer.from(signature, "utf8");
  // Length is not secret (it is fixed by the scheme); the content is compared in constant time.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, code: "invalid_signature", detail: "The x-zm-signature does not match the request." };
  }
  if (!/^\d{1,12}$/.test(timestamp)) {
    return { ok: false, code: "stale_timestamp", detail: "x-zm-request-timestamp must be seconds since the epoch." };
  }
  const ageSeconds = nowMs / 1000 - Number(timestamp);
  if (Math.abs(ageSeconds) > MAX_WEBHOOK_AGE_SECONDS) {
    return {
      ok: false,
      code: "stale_timestamp",
      detail: `The request timestamp is ${Math.round(Math.abs(ageSeconds))} s ${ageSeconds > 0 ? "old" : "in the future"}; at most ${MAX_WEBHOOK_AGE_SECONDS} s is accepted.`,
    };
  }
  return { ok: true };
}

/** The answer to `endpoint.url_validation`: Zoom checks `encryptedToken` against its own HMAC. */
export function urlValidationAnswer(secret: string, plainToken: string) {
  return { plainToken, encryptedToken: hmacHex(secret, plainToken) };
}

/**
 * The signature an RTMS join carries:
 * hex HMAC-SHA256(client_secret, client_id + "," + meeting_uuid_or_engagement_id + "," + rtms_stream_id).
 */
export function joinSignature(clientId: string, clientSecret: string, meetingOrEngagementId: string, streamId: string): string {
  return hmacHex(clientSecret, `${clientId},${meetingOrEngagementId},${streamId}`);
}
