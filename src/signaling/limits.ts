/**
 * Every limit of the signaling layer, named, with the reason for its value.
 * Documented in the README ("Signaling limits"); change them here only.
 */

/** Largest client frame or long-poll body (API.md): an SDP offer with many tracks fits well inside it. */
export const MAX_FRAME_BYTES = 64 * 1024;

/**
 * Per-participant token bucket: 50 messages/s sustained, bursts of 200. A
 * call start (offers, answers and a few dozen trickled ICE candidates per
 * peer in an 8-person mesh) stays well below the burst.
 */
export const RATE_PER_SECOND = 50;
export const RATE_BURST = 200;
/** At most one `rate_limited` error per this many ms, so a flood is not answered by a flood. */
export const RATE_ERROR_INTERVAL_MS = 1_000;

/**
 * Replay window per participant: every unacknowledged frame younger than
 * 60 s, and at least the last 1,000, are kept; hard caps bound the memory a
 * stuck client can pin. Frames the client has acknowledged (a WebSocket pong
 * to a ping sent after them, or a poll's `after`) are dropped early.
 */
export const REPLAY_MIN_MESSAGES = 1_000;
export const REPLAY_MIN_AGE_MS = 60_000;
export const REPLAY_HARD_MAX_MESSAGES = 4_000;
export const REPLAY_HARD_MAX_BYTES = 8 * 1024 * 1024;

/** Server pings each socket this often (each ping doubles as an acknowledgement request). */
export const PING_INTERVAL_MS = 10_000;
/** How often sockets and pollers are checked. */
export const SWEEP_INTERVAL_MS = 5_000;
/** A socket silent (no message, no pong) this long is terminated: with the sweep period it is gone within 30 s. */
export const SOCKET_DEAD_AFTER_MS = 22_000;
/** During traffic, ask for an acknowledgement (a ping carrying the seq) after this many frames, so replay buffers stay short. */
export const ACK_EVERY_FRAMES = 32;

/**
 * A socket whose unsent bytes pass this bound stops being pushed to: its
 * frames wait in the mailbox and are sent when the socket drains.
 */
export const SLOW_CONSUMER_BYTES = 1024 * 1024;
/** A socket stuck past the bound this long is closed (the client can resume). */
export const SLOW_CONSUMER_CLOSE_MS = 20_000;

/**
 * A socket that drops without a close frame (network change, sleep) keeps
 * its place this long: a resume within it causes no peer-left/peer-joined.
 */
export const RECONNECT_GRACE_MS = 10_000;

/** A poller that has not polled for this long is gone (API.md). */
export const POLL_GONE_AFTER_MS = 45_000;
/** Longest hold of a long-poll (API.md: 0..30 s) and the default when `wait` is absent. */
export const POLL_MAX_WAIT_S = 30;
export const POLL_DEFAULT_WAIT_S = 25;
/** Frames per long-poll answer; the rest come with the next poll. */
export const POLL_MAX_FRAMES = 500;
/** Envelopes in one `POST /api/signal/messages`. */
export const POLL_MAX_BATCH = 100;

/** People waiting in one lobby. */
export const LOBBY_MAX = 50;
/** A denied participant may knock again after this long. */
export const DENY_COOLDOWN_MS = 30_000;
