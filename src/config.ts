import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";

/**
 * Every environment variable of API.md, with its default and what it means.
 * `parley --help` and the README's table are generated from this list, so the
 * three cannot drift.
 */
export const CONFIG_VARIABLES = [
  ["PARLEY_PORT", "8080", "HTTP + WebSocket port"],
  ["PARLEY_HOST", "0.0.0.0", "bind address"],
  ["PARLEY_PUBLIC_URL", "http://localhost:$PORT", "base of join links and e-mails"],
  ["PARLEY_DATA_DIR", "./data", "SQLite file, recordings, outbox, generated secrets"],
  ["PARLEY_API_KEY", "generated, kept in the data dir", "management API key"],
  ["PARLEY_JWT_SECRET", "generated, kept in the data dir", "HS256 secret for participant tokens"],
  ["PARLEY_CORS_ORIGINS", "* (any)", "comma-separated origins allowed to call the API from a browser"],
  ["PARLEY_TURN", "embedded", "embedded | external | off"],
  ["PARLEY_TURN_PORT", "3478", "embedded TURN UDP port"],
  ["PARLEY_TURN_SECRET", "generated, kept in the data dir", "shared secret of TURN credentials"],
  ["PARLEY_TURN_URLS", "derived from the public URL", "turn:/turns: URIs handed to browsers (required for external)"],
  ["PARLEY_TURN_TTL", "3600", "seconds a TURN credential lives"],
  ["PARLEY_TURN_RELAY_PORTS", "49160-49359", "UDP port range for relayed addresses"],
  ["PARLEY_TURN_EXTERNAL_IP", "-", "address advertised in relayed candidates behind NAT"],
  ["PARLEY_TURN_ALLOW_PRIVATE_PEERS", "false", "let the relay reach private/loopback peers"],
  ["PARLEY_TLS", "-", "self-signed: make and keep a certificate for LAN use"],
  ["PARLEY_TLS_CERT", "-", "PEM certificate: serve HTTPS + WSS"],
  ["PARLEY_TLS_KEY", "-", "PEM private key for PARLEY_TLS_CERT"],
  ["PARLEY_SMTP_URL", "-", "SMTP for invites; unset = .eml files in the outbox"],
  ["PARLEY_MAIL_FROM", "parley@localhost", "sender of invites"],
  ["PARLEY_ORG_NAME", "Parley", "organisation named in mails and pages"],
  ["PARLEY_RECORDING_RETENTION_DAYS", "0", "delete recordings older than this (0 = keep)"],
  ["PARLEY_FFMPEG_PATH", "ffmpeg on PATH", "ffmpeg used for recordings and RTMS audio"],
  ["PARLEY_LOG_LEVEL", "info", "pino level"],
  ["ZOOM_CLIENT_ID", "-", "Zoom RTMS ingest: app client id"],
  ["ZOOM_CLIENT_SECRET", "-", "Zoom RTMS ingest: app client secret"],
  ["ZOOM_WEBHOOK_SECRET", "-", "Zoom RTMS ingest: webhook secret token"],
] as const;

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"], { message: "must be true or false" })
  .transform((v) => v === "true" || v === "1" || v === "yes");
const port = z.coerce.number({ message: "must be a port number" }).int("must be an integer").min(1, "must be 1-65535").max(65535, "must be 1-65535");
const optional = <T extends z.ZodType>(s: T) => z.preprocess((v) => (v === "" ? undefined : v), s.optional());
const secret = optional(z.string().min(16, "must be at least 16 characters"));

const envSchema = z.object({
  PARLEY_PORT: port.default(8080),
  PARLEY_HOST: z.string().min(1).default("0.0.0.0"),
  PARLEY_PUBLIC_URL: optional(z.url({ message: "must be an absolute http(s) URL" }).refine((u) => /^https?:\/\//.test(u), "must start with http:// or https://")),
  PARLEY_DATA_DIR: z.string().min(1).default("./data"),
  PARLEY_API_KEY: secret,
  PARLEY_JWT_SECRET: secret,
  PARLEY_CORS_ORIGINS: optional(z.string()),
  PARLEY_TURN: z.enum(["embedded", "external", "off"], { message: "must be embedded, external or off" }).default("embedded"),
  PARLEY_TURN_PORT: port.default(3478),
  PARLEY_TURN_SECRET: secret,
  PARLEY_TURN_URLS: optional(z.string()),
  PARLEY_TURN_TTL: z.coerce.number({ message: "must be a number of seconds" }).int().min(1, "must be at least 1 second").max(7 * 86400, "must be at most 7 days").default(3600),
  PARLEY_TURN_RELAY_PORTS: z
    .string()
    .regex(/^\d+-\d+$/, "must look like 49160-49359")
    .default("49160-49359"),
  PARLEY_TURN_EXTERNAL_IP: optional(z.union([z.ipv4(), z.ipv6()], { message: "must be an IP address" })),
  PARLEY_TURN_ALLOW_PRIVATE_PEERS: bool.default(false),
  PARLEY_TLS: optional(z.enum(["self-signed"], { message: "must be self-signed (or unset)" })),
  PARLEY_TLS_CERT: optional(z.string()),
  PARLEY_TLS_KEY: optional(z.string()),
  PARLEY_SMTP_URL: optional(z.url({ message: "must be an smtp:// or smtps:// URL" }).refine((u) => /^smtps?:\/\//.test(u), "must start with smtp:// or smtps://")),
  PARLEY_MAIL_FROM: z.string().min(3).default("parley@localhost"),
  PARLEY_ORG_NAME: z.string().min(1).default("Parley"),
  PARLEY_RECORDING_RETENTION_DAYS: z.coerce.number({ message: "must be a number of days" }).min(0, "must be 0 or more").default(0),
  PARLEY_FFMPEG_PATH: z.string().min(1).default("ffmpeg"),
  PARLEY_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], { message: "must be a pino level (fatal, error, warn, info, debug, trace, silent)" }).default("info"),
  ZOOM_CLIENT_ID: optional(z.string()),
  ZOOM_CLIENT_SECRET: optional(z.string()),
  ZOOM_WEBHOOK_SECRET: optional(z.string()),
});

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  dataDir: string;
  apiKey: string;
  jwtSecret: string;
  corsOrigins: string[] | "*";
  turn: {
    mode: "embedded" | "external" | "off";
    port: number;
    secret: string;
    urls: string[];
    ttlSeconds: number;
    relayPorts: { min: number; max: number };
    externalIp?: string;
    allowPrivatePeers: boolean;
  };
  tls: { mode: "off" | "files" | "self-signed"; certFile?: string; keyFile?: string };
  mail: { smtpUrl?: string; from: string; orgName: string };
  recordings: { retentionDays: number; ffmpegPath: string };
  logLevel: string;
  zoom: { clientId?: string; clientSecret?: string; webhookSecret?: string };
  /** Which secrets were generated by this start (so main can print the key once). */
  generated: string[];
}

export class ConfigError extends Error {
  constructor(readonly variable: string, reason: string) {
    super(`${variable}: ${reason}`);
  }
}

interface StoredSecrets {
  apiKey?: string;
  jwtSecret?: string;
  turnSecret?: string;
}

const SECRETS_FILE = "secrets.json";

/**
 * Reads the environment into one validated config. Secrets that are not set
 * are generated once and kept in `<dataDir>/secrets.json` (mode 0600), so a
 * restart keeps every token and TURN credential valid.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? "environment");
    throw new ConfigError(variable, `${issue.message} (got ${JSON.stringify(env[variable] ?? null)})`);
  }
  const e = parsed.data;

  const [min, max] = e.PARLEY_TURN_RELAY_PORTS.split("-").map(Number) as [number, number];
  if (!(min >= 1024 && max <= 65535 && min <= max)) {
    throw new ConfigError("PARLEY_TURN_RELAY_PORTS", `must be a range within 1024-65535 with min <= max (got "${e.PARLEY_TURN_RELAY_PORTS}")`);
  }
  if (e.PARLEY_TURN === "external" && !e.PARLEY_TURN_URLS) {
    throw new ConfigError("PARLEY_TURN_URLS", "is required when PARLEY_TURN=external (the coturn turn:/turns: URIs)");
  }
  if (Boolean(e.PARLEY_TLS_CERT) !== Boolean(e.PARLEY_TLS_KEY)) {
    throw new ConfigError(e.PARLEY_TLS_CERT ? "PARLEY_TLS_KEY" : "PARLEY_TLS_CERT", "PARLEY_TLS_CERT and PARLEY_TLS_KEY must be set together");
  }
  const turnUrls = e.PARLEY_TURN_URLS ? e.PARLEY_TURN_URLS.split(",").map((s: string) => s.trim()).filter(Boolean) : [];
  for (const u of turnUrls) {
    if (!/^(stun|stuns|turn|turns):/.test(u)) throw new ConfigError("PARLEY_TURN_URLS", `"${u}" is not a stun:/turn:/turns: URI`);
  }

  const dataDir = resolve(e.PARLEY_DATA_DIR);
  const tlsOn = Boolean(e.PARLEY_TLS_CERT) || e.PARLEY_TLS === "self-signed";
  const publicUrl = (e.PARLEY_PUBLIC_URL ?? `${tlsOn ? "https" : "http"}://localhost:${e.PARLEY_PORT}`).replace(/\/+$/, "");

  const generated: string[] = [];
  const stored = readSecrets(dataDir);
  const pick = (given: string | undefined, key: keyof StoredSecrets, name: string): string => {
    if (given) return given;
    if (stored[key]) return stored[key]!;
    stored[key] = randomBytes(32).toString("base64url");
    generated.push(name);
    return stored[key]!;
  };
  const apiKey = pick(e.PARLEY_API_KEY, "apiKey", "PARLEY_API_KEY");
  const jwtSecret = pick(e.PARLEY_JWT_SECRET, "jwtSecret", "PARLEY_JWT_SECRET");
  const turnSecret = pick(e.PARLEY_TURN_SECRET, "turnSecret", "PARLEY_TURN_SECRET");
  if (generated.length) writeSecrets(dataDir, stored);

  const cors = e.PARLEY_CORS_ORIGINS?.trim();
  return {
    port: e.PARLEY_PORT,
    host: e.PARLEY_HOST,
    publicUrl,
    dataDir,
    apiKey,
    jwtSecret,
    corsOrigins: !cors || cors === "*" ? "*" : cors.split(",").map((s: string) => s.trim()),
    turn: {
      mode: e.PARLEY_TURN,
      port: e.PARLEY_TURN_PORT,
      secret: turnSecret,
      urls: turnUrls,
      ttlSeconds: e.PARLEY_TURN_TTL,
      relayPorts: { min, max },
      externalIp: e.PARLEY_TURN_EXTERNAL_IP,
      allowPrivatePeers: e.PARLEY_TURN_ALLOW_PRIVATE_PEERS,
    },
    tls: {
      mode: e.PARLEY_TLS_CERT ? "files" : e.PARLEY_TLS === "self-signed" ? "self-signed" : "off",
      certFile: e.PARLEY_TLS_CERT,
      keyFile: e.PARLEY_TLS_KEY,
    },
    mail: { smtpUrl: e.PARLEY_SMTP_URL, from: e.PARLEY_MAIL_FROM, orgName: e.PARLEY_ORG_NAME },
    recordings: { retentionDays: e.PARLEY_RECORDING_RETENTION_DAYS, ffmpegPath: e.PARLEY_FFMPEG_PATH },
    logLevel: e.PARLEY_LOG_LEVEL,
    zoom: { clientId: e.ZOOM_CLIENT_ID, clientSecret: e.ZOOM_CLIENT_SECRET, webhookSecret: e.ZOOM_WEBHOOK_SECRET },
    generated,
  };
}

function readSecrets(dataDir: string): StoredSecrets {
  const file = join(dataDir, SECRETS_FILE);
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, "utf8")) as StoredSecrets;
  } catch {
    throw new ConfigError("PARLEY_DATA_DIR", `${file} is not valid JSON; fix or remove it (removing it invalidates every issued token)`);
  }
}

function writeSecrets(dataDir: string, secrets: StoredSecrets): void {
  try {
    mkdirSync(dataDir, { recursive: true });
    const file = join(dataDir, SECRETS_FILE);
    writeFileSync(file, JSON.stringify(secrets, null, 2) + "\n", { mode: 0o600 });
    chmodSync(file, 0o600);
  } catch (err) {
    throw new ConfigError("PARLEY_DATA_DIR", `cannot write ${dataDir}: ${(err as Error).message}`);
  }
}
