import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Tokens travel in query strings (`/ws?token=`, `/join/:id?token=`) and in
 * Authorization headers; none of them may reach a log line. Paths are logged
 * without their query, and these keys are censored wherever they appear.
 */
const REDACT = [
  "token",
  "apiKey",
  "password",
  "secret",
  "authorization",
  "*.token",
  "*.apiKey",
  "*.password",
  "*.secret",
  "*.authorization",
  "req.headers.authorization",
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT, censor: "[redacted]" }, base: { app: "parley" } }, destination);
}
