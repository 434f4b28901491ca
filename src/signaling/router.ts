import type { Outgoing } from "./frames.js";

/**
 * Delivery between participants. The hub decides who may receive what; the
 * router only carries a message to the mailbox of a participant wherever its
 * connection lives. `LocalRouter` delivers in this process; a Redis-backed
 * router (publish to the node that holds the participant, which then calls
 * its own `LocalDelivery`) can replace it without touching the transports or
 * routes — the LiveKit localrouter/redisrouter split.
 */
export interface Router {
  /** To one participant of a room; false when it is not connected anywhere. */
  toParticipant(roomId: string, participantId: string, msg: Outgoing): boolean;
  /** To every admitted participant of a room except `exceptId`. */
  toRoom(roomId: string, msg: Outgoing, exceptId?: string): void;
}

/** What a node offers its router: put a message into local mailboxes. */
export interface LocalDelivery {
  deliverTo(roomId: string, participantId: string, msg: Outgoing): boolean;
  deliverToRoom(roomId: string, msg: Outgoing, exceptId?: string): void;
}

export class LocalRouter implements Router {
  constructor(private readonly local: LocalDelivery) {}

  toParticipant(roomId: string, participantId: string, msg: Outgoing): boolean {
    return this.local.deliverTo(roomId, participantId, msg);
  }

  toRoom(roomId: string, msg: Outgoing, exceptId?: string): void {
    this.local.deliverToRoom(roomId, msg, exceptId);
  }
}
