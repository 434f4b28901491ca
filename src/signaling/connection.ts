import type { Member } from "./hub.js";

/**
 * What the hub sees of a transport: somewhere to push frames and a way to
 * close. WebSocket and long-poll both implement it, so the hub never knows
 * about sockets or HTTP.
 */
export interface Connection {
  readonly transport: "ws" | "poll";
  /** From now on this connection serves `member`; the client already holds every frame up to `deliveredUpTo`. */
  attach(member: Member, deliveredUpTo: number): void;
  /** A frame was appended to the member's mailbox with this seq: send it, or wake the poller. */
  push(frame: string, seq: number): void;
  /** Ends the connection (WebSocket close code / poll end) with a reason people can read. */
  close(code: number, reason: string): void;
}
