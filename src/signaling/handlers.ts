import type { Hub, Member } from "./hub.js";
import { DENY_COOLDOWN_MS } from "./limits.js";
import { CLOSE, type ClientMessage, type ClientType } from "./protocol.js";

type Msg<T extends ClientType> = Extract<ClientMessage, { type: T }>;
/** Returns whether the message was accepted (counted in a long-poll's `accepted`). */
type Handler<T extends ClientType> = (hub: Hub, m: Member, msg: Msg<T>, receivedAt: number) => boolean;

/**
 * One handler per client type (the peerjs-server messageHandler pattern):
 * adding a type is one schema in protocol.ts and one entry here. Validation,
 * the waiting-room gate and host rights are checked before a handler runs.
 */
export const handlers: { [T in ClientType]: Handler<T> } = {
  offer: (hub, m, msg, at) => toPeer(hub, m, msg, at),
  answer: (hub, m, msg, at) => toPeer(hub, m, msg, at),
  "ice-candidate": (hub, m, msg, at) => toPeer(hub, m, msg, at),

  "media-state": (hub, m, msg, at) => {
    m.media = msg.data;
    hub.relayToRoom(m, msg.type, JSON.stringify(msg.data), at);
    return true;
  },

  hand: (hub, m, msg, at) => {
    m.hand = msg.data.raised;
    hub.relayToRoom(m, msg.type, JSON.stringify(msg.data), at);
    return true;
  },

  chat: (hub, m, msg, at) => {
    const to = msg.to ?? null;
    const data = JSON.stringify({ text: msg.data.text, to });
    if (to !== null) {
      if (!hub.relayTo(m, to, "chat", data, at)) return peerNotFound(hub, m, to, msg.id);
    } else {
      hub.relayToRoom(m, "chat", data, at);
    }
    const s = m.room.settings;
    hub.bus.emit("chat", { roomId: s.id, sessionId: s.sessionId, from: m.id, to, text: msg.data.text, at: new Date().toISOString() });
    return true;
  },

  stats: (hub, m, msg) => {
    const s = m.room.settings;
    hub.bus.emit("stats", { roomId: s.id, sessionId: s.sessionId, participantId: m.id, report: msg.data as Record<string, unknown>, at: new Date().toISOString() });
    return true;
  },

  "recording-consent": (hub, m, msg) => {
    const s = m.room.settings;
    hub.bus.emit("recording-consent", { roomId: s.id, sessionId: s.sessionId, participantId: m.id, granted: msg.data.granted, at: new Date().toISOString() });
    return true;
  },

  leave: (hub, m) => {
    hub.disconnect(m, 1000, "left", "left");
    return true;
  },

  ping: (hub, m) => {
    hub.send(m, "pong", {});
    return true;
  },

  admit: (hub, host, msg) => {
    const target = host.room.members.get(msg.data.participantId);
    if (!target || target.admitted) return peerNotFound(hub, host, msg.data.participantId, msg.id, "nobody with that id is waiting");
    const s = host.room.settings;
    if (host.room.admittedCount >= s.maxParticipants) {
      hub.reject(host, "room_full", `the room is full (${s.maxParticipants} participants)`, msg.id);
      return false;
    }
    hub.send(target, "admitted", {});
    hub.bus.emit("participant-admitted", { roomId: s.id, sessionId: s.sessionId, participantId: target.id, by: host.id, at: new Date().toISOString() });
    hub.enter(target);
    hub.lobbyChanged(host.room);
    return true;
  },

  deny: (hub, host, msg) => {
    const target = host.room.members.get(msg.data.participantId);
    if (!target || target.admitted) return peerNotFound(hub, host, msg.data.participantId, msg.id, "nobody with that id is waiting");
    const reason = msg.data.reason ?? "the host declined your request to join";
    hub.send(target, "denied", { reason });
    host.room.deniedUntil.set(target.id, Date.now() + DENY_COOLDOWN_MS);
    const s = host.room.settings;
    hub.bus.emit("participant-denied", { roomId: s.id, sessionId: s.sessionId, participantId: target.id, by: host.id, at: new Date().toISOString() });
    hub.disconnect(target, CLOSE.forbidden, `denied: ${reason}`.slice(0, 120), "denied");
    return true;
  },

  remove: (hub, host, msg) => {
    const target = host.room.members.get(msg.data.participantId);
    if (!target || target === host) return peerNotFound(hub, host, msg.data.participantId, msg.id);
    const reason = msg.data.reason ?? "removed by the host";
    const s = host.room.settings;
    // Refuse the token first, so a reconnect racing this message cannot get back in.
    hub.services.markRemoved(s.id, target.id, host.id);
    hub.send(target, "removed", { reason });
    hub.bus.emit("participant-removed", { roomId: s.id, sessionId: s.sessionId, participantId: target.id, by: host.id, at: new Date().toISOString() });
    hub.disconnect(target, CLOSE.forbidden, `removed: ${reason}`.slice(0, 120), "removed");
    return true;
  },

  mute: (hub, host, msg, at) => {
    const to = msg.data.participantId;
    if (!hub.relayTo(host, to, "mute", JSON.stringify({ kind: msg.data.kind }), at)) return peerNotFound(hub, host, to, msg.id);
    return true;
  },

  "end-room": (hub, host, msg) => {
    // RoomService.end emits room-ended; the hub's listener closes every connection with 4010.
    hub.services.endRoom(host.room.settings.id, msg.data.reason ?? "ended_by_host", host.id);
    return true;
  },
};

function toPeer(hub: Hub, m: Member, msg: Msg<"offer" | "answer" | "ice-candidate">, at: number): boolean {
  // `to` is required for these types (checked by parseClientMessage).
  if (!hub.relayTo(m, msg.to!, msg.type, JSON.stringify(msg.data), at)) return peerNotFound(hub, m, msg.to!, msg.id);
  return true;
}

function peerNotFound(hub: Hub, m: Member, to: string, ref: string | undefined, message = "no such participant in this room"): false {
  hub.reject(m, "peer_not_found", `${message}: ${JSON.stringify(to.slice(0, 60))}`, ref);
  return false;
}
