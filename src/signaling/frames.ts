/**
 * Server → client frames are built as strings once: the part after `seq` is
 * serialized a single time per message (shared by every recipient) and each
 * recipient's frame is `{"seq":N` + that tail. Mailboxes keep that string, so
 * replay never serializes again.
 */

let lastMs = 0;
let lastIso = "";
/** ISO time, computed at most once per millisecond (it is on every frame). */
export function nowIso(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** A message on its way to one or more mailboxes: everything but the recipient's seq. */
export interface Outgoing {
  type: string;
  /** `,"type":…,"from":…,"ts":…,"data":…}` */
  tail: string;
  /** performance.now() when the client message arrived (relay latency), or 0 for server messages. */
  receivedAt: number;
}

const SERVER_FROM = JSON.stringify("server");

/** `fromJson` is the already-JSON-encoded sender id (members cache it). */
export function outgoing(type: string, fromJson: string, dataJson: string, receivedAt = 0): Outgoing {
  return { type, tail: `,"type":"${type}","from":${fromJson},"ts":"${nowIso()}","data":${dataJson}}`, receivedAt };
}

export function serverMessage(type: string, data: unknown): Outgoing {
  return outgoing(type, SERVER_FROM, JSON.stringify(data));
}

export const frameOf = (seq: number, tail: string): string => `{"seq":${seq}${tail}`;
