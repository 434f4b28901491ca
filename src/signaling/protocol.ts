/**
 * Every signaling message, as zod schemas shared by the server and the
 * browser bundle (src/client imports this file), so the two cannot drift.
 * The envelope and type names are fixed by API.md.
 *
 * Adding a message type: one schema in `clientData` (or `serverData`), one
 * handler in the hub's handler table.
 */
import { z } from "zod";

/** Participant ids come from tokens other apps mint: keep them printable and bounded. */
export const participantId = z.string().min(1).max(200);

/** SDP is the largest payload; a 64 KB frame fits an offer with many tracks and candidates. */
const sdp = z.string().min(1).max(60_000);

export const mediaState = z.object({ audio: z.boolean(), video: z.boolean(), screen: z.boolean().default(false) });
export type MediaState = z.output<typeof mediaState>;

export const iceCandidate = z.object({
  candidate: z.string().max(2_000),
  sdpMid: z.string().max(64).nullish(),
  sdpMLineIndex: z.number().int().min(0).max(1_024).nullish(),
  usernameFragment: z.string().max(256).nullish(),
});

/** Quality report a page sends every ~10 s; kept by the server, never relayed. */
export const statsReport = z
  .object({
    rttMs: z.number().min(0).max(60_000).optional(),
    lossPct: z.number().min(0).max(100).optional(),
    bitrateOut: z.number().min(0).max(1e10).optional(),
    bitrateIn: z.number().min(0).max(1e10).optional(),
    /** Milliseconds this participant spoke since the previous report (from audio levels). */
    talkMs: z.number().min(0).max(3_600_000).optional(),
    audioLevel: z.number().min(0).max(1).optional(),
    relay: z.boolean().optional(),
    transport: z.enum(["ws", "poll"]).optional(),
    reconnections: z.number().int().min(0).max(10_000).optional(),
    iceRestarts: z.number().int().min(0).max(10_000).optional(),
    peers: z
      .array(
        z.object({
          id: participantId,
          rttMs: z.number().min(0).max(60_000).optional(),
          lossPct: z.number().min(0).max(100).optional(),
          bitrateIn: z.number().min(0).max(1e10).optional(),
          bitrateOut: z.number().min(0).max(1e10).optional(),
          relay: z.boolean().optional(),
        }),
      )
      .max(50)
      .optional(),
  })
  .strip();

const target = z.object({ participantId });

/** Data of each client → server type. */
export const clientData = {
  offer: z.object({ sdp, type: z.literal("offer").default("offer") }),
  answer: z.object({ sdp, type: z.literal("answer").default("answer") }),
  "ice-candidate": z.object({ candidate: iceCandidate.nullable() }),
  "media-state": mediaState,
  chat: z.object({ text: z.string().trim().min(1).max(2_000) }),
  hand: z.object({ raised: z.boolean() }),
  stats: statsReport,
  "recording-consent": z.object({ granted: z.boolean() }),
  leave: z.object({}).strip(),
  ping: z.object({}).strip(),
  admit: target,
  deny: target.extend({ reason: z.string().max(200).optional() }),
  remove: target.extend({ reason: z.string().max(200).optional() }),
  mute: target.extend({ kind: z.enum(["audio", "video"]).default("audio") }),
  "end-room": z.object({ reason: z.string().max(100).optional() }),
} as const;
export type ClientType = keyof typeof clientData;
export type ClientData<T extends ClientType> = z.output<(typeof clientData)[T]>;

export const CLIENT_TYPES = Object.keys(clientData) as ClientType[];
/** Types that must name a peer in `to`. */
export const PEER_TYPES: ReadonlySet<ClientType> = new Set(["offer", "answer", "ice-candidate"]);
/** Types relayed to other participants (with `from`). */
export const RELAYED_TYPES: ReadonlySet<ClientType> = new Set(["offer", "answer", "ice-candidate", "media-state", "chat", "hand"]);
/** Types only a host or moderator may send. */
export const HOST_TYPES: ReadonlySet<ClientType> = new Set(["admit", "deny", "remove", "mute", "end-room"]);

/** Client → server envelope. `id` comes back as `ref` in an `error` about this message. */
export const clientEnvelope = z.object({
  type: z.string().min(1).max(40),
  to: participantId.optional(),
  data: z.unknown().optional(),
  id: z.string().max(64).optional(),
});
export type ClientEnvelope = z.output<typeof clientEnvelope>;

/** Parsed, validated client message. */
export type ClientMessage = { [T in ClientType]: { type: T; to?: string; id?: string; data: ClientData<T> } }[ClientType];

export type ParseResult = { ok: true; msg: ClientMessage } | { ok: false; code: "invalid_message" | "unknown_type"; message: string; ref?: string };

/** Validates one decoded client frame (already JSON-parsed). */
export function parseClientMessage(raw: unknown): ParseResult {
  const env = clientEnvelope.safeParse(raw);
  if (!env.success) {
    const ref = typeof (raw as { id?: unknown })?.id === "string" ? String((raw as { id: string }).id).slice(0, 64) : undefined;
    return { ok: false, code: "invalid_message", message: describe(env.error), ref };
  }
  const { type, to, id } = env.data;
  if (!Object.hasOwn(clientData, type)) return { ok: false, code: "unknown_type", message: `unknown message type "${type}"`, ref: id };
  const t = type as ClientType;
  if (PEER_TYPES.has(t) && !to) return { ok: false, code: "invalid_message", message: `"${t}" needs "to"`, ref: id };
  const data = clientData[t].safeParse(env.data.data ?? {});
  if (!data.success) return { ok: false, code: "invalid_message", message: `${t}: ${describe(data.error)}`, ref: id };
  return { ok: true, msg: { type: t, to, id, data: data.data } as ClientMessage };
}

function describe(err: z.ZodError): string {
  const i = err.issues[0]!;
  return `${i.path.length ? i.path.join(".") + ": " : ""}${i.message}`;
}

// ---------------------------------------------------------------- server → client

export const peerInfo = z.object({
  id: participantId,
  name: z.string(),
  role: z.string(),
  roleLabel: z.string().optional(),
  media: mediaState,
  hand: z.boolean(),
  transport: z.enum(["ws", "poll"]),
});
export type PeerInfo = z.output<typeof peerInfo>;

export const iceServer = z.object({
  urls: z.union([z.string(), z.array(z.string())]),
  username: z.string().optional(),
  credential: z.string().optional(),
});
export type IceServer = z.output<typeof iceServer>;

export const roomInfo = z.object({
  id: z.string(),
  sessionId: z.string(),
  title: z.string().nullable(),
  waitingRoom: z.boolean(),
  maxParticipants: z.number(),
  recording: z.object({ enabled: z.boolean(), requireConsent: z.boolean(), active: z.boolean() }),
});

export const serverData = {
  welcome: z.object({
    self: peerInfo,
    peers: z.array(peerInfo),
    room: roomInfo,
    iceServers: z.array(iceServer),
    /** True when a resume could not be honoured: drop peer state and start over. */
    resync: z.boolean().optional(),
  }),
  waiting: z.object({ room: z.object({ id: z.string(), title: z.string().nullable() }), self: z.object({ id: z.string(), name: z.string() }) }),
  lobby: z.object({ waiting: z.array(z.object({ id: z.string(), name: z.string(), since: z.string() })) }),
  "peer-joined": z.object({
    peer: peerInfo,
    /**
     * The same page coming back after the server lost its session (a restart): a peer connection that is
     * still up with it can be kept. Absent for a new page (first join, reload), which needs a new one.
     */
    resync: z.boolean().optional(),
  }),
  "peer-left": z.object({ id: participantId, reason: z.string() }),
  admitted: z.object({}).strip(),
  denied: z.object({ reason: z.string().optional() }),
  removed: z.object({ reason: z.string().optional() }),
  "room-ended": z.object({ reason: z.string() }),
  recording: z.object({ active: z.boolean(), by: z.string().nullable(), recordingId: z.string().optional() }),
  error: z.object({ code: z.string(), message: z.string(), ref: z.string().optional() }),
  pong: z.object({}).strip(),
  // Relayed types keep the client's data unchanged.
  offer: clientData.offer,
  answer: clientData.answer,
  "ice-candidate": clientData["ice-candidate"],
  "media-state": mediaState,
  chat: z.object({ text: z.string(), to: participantId.nullable().optional() }),
  hand: clientData.hand,
  mute: z.object({ kind: z.enum(["audio", "video"]) }),
} as const;
export type ServerType = keyof typeof serverData;
export type ServerData<T extends ServerType> = z.output<(typeof serverData)[T]>;

/** Server → client envelope (API.md). */
export const serverEnvelope = z.object({
  type: z.string(),
  from: z.string(),
  data: z.unknown(),
  seq: z.number().int().min(0),
  ts: z.string(),
});
export type ServerEnvelope = z.output<typeof serverEnvelope>;

/** WebSocket close codes (API.md). */
export const CLOSE = {
  replaced: 4001,
  forbidden: 4003,
  roomNotFound: 4004,
  roomFull: 4009,
  roomEnded: 4010,
  badToken: 4401,
} as const;

/** Stable error codes sent in `error` frames. */
export const ERROR_CODES = ["invalid_message", "unknown_type", "forbidden", "rate_limited", "peer_not_found", "not_admitted", "too_large"] as const;
