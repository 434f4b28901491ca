import { isHostLike, type Participant } from "../auth/tokens.js";
import type { EventBus } from "../events/bus.js";
import type { Connection } from "./connection.js";
import { outgoing, serverMessage, type Outgoing } from "./frames.js";
import { handlers } from "./handlers.js";
import { LOBBY_MAX, RATE_ERROR_INTERVAL_MS, RECONNECT_GRACE_MS } from "./limits.js";
import { Mailbox } from "./mailbox.js";
import type { SignalingMetrics } from "./metrics.js";
import { CLOSE, HOST_TYPES, parseClientMessage, type IceServer, type MediaState, type PeerInfo, type ServerData, type ServerType } from "./protocol.js";
import { TokenBucket } from "./rateLimit.js";
import { LocalRouter, type LocalDelivery, type Router } from "./router.js";

/** What the hub needs from the rest of the server (rooms, TURN), so it never touches SQL or HTTP itself. */
export interface HubServices {
  /** First admitted join: the room becomes active (room-started). */
  markStarted(roomId: string): void;
  /** The participant's token is refused for the rest of the session. */
  markRemoved(roomId: string, participantId: string, by: string): void;
  /** Ends the room for good; the room-ended domain event comes back to `Hub.roomEnded`. */
  endRoom(roomId: string, reason: string, by: string): void;
  iceServersFor(participantId: string): IceServer[];
}

/** The settings of a room the hub acts on (refreshed from the room row at every join). */
export interface RoomSettings {
  id: string;
  sessionId: string;
  title: string | null;
  status: string;
  waitingRoom: boolean;
  maxParticipants: number;
  recordingEnabled: boolean;
  recordingRequireConsent: boolean;
}

export type JoinOutcome = { ok: true; member: Member } | { ok: false; close: number; code: string; reason: string };

/** One participant present in a room: admitted, or waiting in its lobby. */
export class Member {
  readonly fromJson: string;
  conn: Connection | undefined;
  transport: "ws" | "poll";
  admitted = false;
  media: MediaState = { audio: false, video: false, screen: false };
  hand = false;
  /** Start of the current admitted span (ms), for the duration in participant-left. */
  joinedAt = 0;
  readonly waitingSince = new Date().toISOString();
  readonly bucket = new TokenBucket();
  lastRateError = 0;
  graceTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly room: RoomState,
    public p: Participant,
    readonly mailbox: Mailbox,
    conn: Connection,
  ) {
    this.fromJson = JSON.stringify(p.id);
    this.conn = conn;
    this.transport = conn.transport;
  }

  get id(): string {
    return this.p.id;
  }

  get isHost(): boolean {
    return isHostLike(this.p);
  }

  info(): PeerInfo {
    return {
      id: this.p.id,
      name: this.p.name,
      role: this.p.role,
      ...(this.p.roleLabel ? { roleLabel: this.p.roleLabel } : {}),
      media: this.media,
      hand: this.hand,
      transport: this.transport,
    };
  }
}

export class RoomState {
  /** Present participants (admitted or waiting, including those inside the reconnect grace). */
  readonly members = new Map<string, Member>();
  admittedCount = 0;
  /** Admitted once this session: a reconnect skips the lobby. */
  readonly everAdmitted = new Set<string>();
  /** Last seq per participant that left, so a rejoin continues the sequence. */
  readonly lastSeq = new Map<string, number>();
  /** Denied participants cannot knock again until then (ms): a poller that missed its `denied` frame learns it at the door. */
  readonly deniedUntil = new Map<string, number>();
  /** Active browser recordings: recordingId → participant id. */
  readonly recordings = new Map<string, string>();
  started = false;
  emptySince = Date.now();

  constructor(public settings: RoomSettings) {
    this.started = settings.status !== "waiting";
  }
}

/**
 * Rooms, presence and mailboxes. Transports hand it authenticated
 * participants and raw client messages; it validates, applies the rules
 * (waiting room, host rights, room boundaries) and delivers through the
 * router. Domain events go out on the bus; storage listens there.
 */
export class Hub implements LocalDelivery {
  private readonly rooms = new Map<string, RoomState>();
  /** Set by shutdown(): members still leave (attendance), but no peer is told. */
  private stopping = false;
  readonly router: Router;

  constructor(
    readonly services: HubServices,
    readonly bus: EventBus,
    readonly metrics: SignalingMetrics,
    router?: (local: LocalDelivery) => Router,
  ) {
    this.router = router ? router(this) : new LocalRouter(this);
  }

  // ------------------------------------------------------------ presence

  member(roomId: string, participantId: string): Member | undefined {
    return this.rooms.get(roomId)?.members.get(participantId);
  }

  /**
   * A connection for an authenticated participant. `resume` is the last seq
   * the client holds: honoured when the participant is still present and the
   * mailbox still has everything after it (then no welcome and no churn for
   * the others), otherwise the client gets a fresh welcome with `resync`.
   */
  join(p: Participant, settings: RoomSettings, conn: Connection, resume?: number): JoinOutcome {
    let room = this.rooms.get(settings.id);
    if (!room) this.rooms.set(settings.id, (room = new RoomState(settings)));
    else room.settings = settings;
    const resync = resume !== undefined && resume > 0;

    const existing = room.members.get(p.id);
    if (existing) {
      // A second connection (or a reconnect inside the grace period) replaces the first.
      const old = existing.conn;
      this.clearGrace(existing);
      existing.p = p;
      existing.conn = conn;
      existing.transport = conn.transport;
      if (old && old !== conn) old.close(CLOSE.replaced, "replaced by a newer connection of the same participant");
      if (resume !== undefined && existing.mailbox.canReplayFrom(resume)) {
        conn.attach(existing, resume);
        const frames = existing.mailbox.since(resume);
        for (let i = 0; i < frames.length; i++) conn.push(frames[i]!, resume + 1 + i);
        return { ok: true, member: existing };
      }
      conn.attach(existing, existing.mailbox.lastSeq);
      if (!existing.admitted) {
        this.sendWaiting(existing);
        return { ok: true, member: existing };
      }
      // A fresh page has no peer connections: the others must start over with it.
      this.announceLeft(existing, "replaced");
      this.announceJoined(existing, resync);
      return { ok: true, member: existing };
    }

    const admitted = isHostLike(p) || !settings.waitingRoom || room.everAdmitted.has(p.id);
    if (!admitted && (room.deniedUntil.get(p.id) ?? 0) > Date.now()) {
      return { ok: false, close: CLOSE.forbidden, code: "denied", reason: "the host declined your request to join; try again later" };
    }
    if (admitted && room.admittedCount >= settings.maxParticipants) {
      return { ok: false, close: CLOSE.roomFull, code: "room_full", reason: `room is full (${settings.maxParticipants} participants)` };
    }
    if (!admitted && room.members.size - room.admittedCount >= LOBBY_MAX) {
      return { ok: false, close: CLOSE.roomFull, code: "room_full", reason: "the waiting room is full" };
    }
    const member = new Member(room, p, new Mailbox(room.lastSeq.get(p.id) ?? 0), conn);
    room.members.set(p.id, member);
    conn.attach(member, member.mailbox.lastSeq);
    if (admitted) {
      this.enter(member, resync);
    } else {
      this.sendWaiting(member);
      this.bus.emit("participant-waiting", { roomId: room.settings.id, sessionId: room.settings.sessionId, participantId: p.id, name: p.name, at: new Date().toISOString() });
      this.lobbyChanged(room);
    }
    return { ok: true, member };
  }

  /** The member's connection dropped without a goodbye: keep its place for a short while (resume without churn). */
  connectionLost(member: Member, conn: Connection): void {
    if (member.conn !== conn || !this.isPresent(member)) return;
    member.conn = undefined;
    this.clearGrace(member);
    member.graceTimer = setTimeout(() => this.leave(member, "connection_lost"), RECONNECT_GRACE_MS);
    member.graceTimer.unref();
  }

  /** The member is gone (left, timed out, removed, denied): tell the room. Closing the connection is the caller's. */
  leave(member: Member, reason: string): void {
    const room = member.room;
    if (room.members.get(member.id) !== member) return;
    this.clearGrace(member);
    room.members.delete(member.id);
    room.lastSeq.set(member.id, member.mailbox.lastSeq);
    member.conn = undefined;
    if (room.members.size === 0) room.emptySince = Date.now();
    if (member.admitted) {
      room.admittedCount--;
      this.announceLeft(member, reason);
    } else {
      this.lobbyChanged(room);
    }
  }

  /** Leave and close the member's connection. */
  disconnect(member: Member, code: number, reason: string, leaveReason: string): void {
    const conn = member.conn;
    this.leave(member, leaveReason);
    conn?.close(code, reason);
  }

  isPresent(member: Member): boolean {
    return member.room.members.get(member.id) === member;
  }

  private clearGrace(member: Member): void {
    if (member.graceTimer) clearTimeout(member.graceTimer);
    member.graceTimer = undefined;
  }

  /** Admits a member into the call: welcome for it, peer-joined for the others. */
  enter(member: Member, resync = false): void {
    const room = member.room;
    member.admitted = true;
    room.admittedCount++;
    room.everAdmitted.add(member.id);
    if (!room.started) {
      room.started = true;
      this.services.markStarted(room.settings.id);
    }
    this.announceJoined(member, resync);
    if (member.isHost && (room.settings.waitingRoom || room.members.size > room.admittedCount)) this.sendLobby(member);
  }

  /** The client lost its place (its cursor is outside the window): a fresh start, for it and for its peers. */
  resync(member: Member): void {
    if (!member.admitted) {
      this.sendWaiting(member);
      return;
    }
    this.announceLeft(member, "resync");
    this.announceJoined(member, true);
  }

  private announceJoined(member: Member, resync: boolean): void {
    const room = member.room;
    member.joinedAt = Date.now();
    const p = member.p;
    this.bus.emit("participant-joined", {
      roomId: room.settings.id,
      sessionId: room.settings.sessionId,
      participantId: p.id,
      name: p.name,
      role: p.role,
      ...(p.roleLabel ? { roleLabel: p.roleLabel } : {}),
      transport: member.transport,
      at: new Date(member.joinedAt).toISOString(),
    });
    const peers: PeerInfo[] = [];
    for (const m of room.members.values()) if (m.admitted && m !== member) peers.push(m.info());
    this.send(member, "welcome", {
      self: member.info(),
      peers,
      room: this.roomInfo(room),
      iceServers: this.services.iceServersFor(p.id),
      ...(resync ? { resync: true } : {}),
    });
    this.router.toRoom(room.settings.id, serverMessage("peer-joined", { peer: member.info(), ...(resync ? { resync: true } : {}) }), member.id);
  }

  private announceLeft(member: Member, reason: string): void {
    const room = member.room;
    if (!this.stopping) this.router.toRoom(room.settings.id, serverMessage("peer-left", { id: member.id, reason }), member.id);
    const at = Date.now();
    this.bus.emit("participant-left", {
      roomId: room.settings.id,
      sessionId: room.settings.sessionId,
      participantId: member.id,
      role: member.p.role,
      ...(member.p.roleLabel ? { roleLabel: member.p.roleLabel } : {}),
      at: new Date(at).toISOString(),
      reason,
      duration: Math.max(0, Math.round((at - member.joinedAt) / 1000)),
    });
  }

  private sendWaiting(member: Member): void {
    const s = member.room.settings;
    this.send(member, "waiting", { room: { id: s.id, title: s.title }, self: { id: member.id, name: member.p.name } });
  }

  lobbyChanged(room: RoomState): void {
    if (this.stopping) return;
    for (const m of room.members.values()) if (m.admitted && m.isHost) this.sendLobby(m);
  }

  private sendLobby(host: Member): void {
    const waiting: ServerData<"lobby">["waiting"] = [];
    for (const m of host.room.members.values()) if (!m.admitted) waiting.push({ id: m.id, name: m.p.name, since: m.waitingSince });
    this.send(host, "lobby", { waiting });
  }

  roomInfo(room: RoomState): ServerData<"welcome">["room"] {
    const s = room.settings;
    return {
      id: s.id,
      sessionId: s.sessionId,
      title: s.title,
      waitingRoom: s.waitingRoom,
      maxParticipants: s.maxParticipants,
      recording: { enabled: s.recordingEnabled, requireConsent: s.recordingRequireConsent, active: room.recordings.size > 0 },
    };
  }

  // ------------------------------------------------------------ messages

  /** A raw text frame from a client (WebSocket). */
  receiveText(member: Member, text: string, receivedAt: number): void {
    if (!this.admit(member)) return;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      this.reject(member, "invalid_message", "frame is not valid JSON", undefined);
      return;
    }
    this.dispatch(member, raw, receivedAt);
  }

  /** One already-decoded envelope (long-poll bodies). */
  receiveObject(member: Member, raw: unknown, receivedAt: number): boolean {
    if (!this.admit(member)) return false;
    return this.dispatch(member, raw, receivedAt);
  }

  /** Rate limit: answered with one `rate_limited` error per interval, the rest silently counted. */
  private admit(member: Member): boolean {
    const now = Date.now();
    if (member.bucket.take(now)) return true;
    this.metrics.rateLimited.inc();
    this.metrics.dropped("rate_limited").inc();
    if (now - member.lastRateError >= RATE_ERROR_INTERVAL_MS) {
      member.lastRateError = now;
      this.error(member, "rate_limited", "too many messages; slow down", undefined);
    }
    return false;
  }

  private dispatch(member: Member, raw: unknown, receivedAt: number): boolean {
    if (!this.isPresent(member)) return false;
    const parsed = parseClientMessage(raw);
    if (!parsed.ok) {
      this.reject(member, parsed.code, parsed.message, parsed.ref);
      return false;
    }
    const msg = parsed.msg;
    if (HOST_TYPES.has(msg.type) && !member.isHost) {
      this.reject(member, "forbidden", `only a host or moderator may send "${msg.type}"`, msg.id);
      return false;
    }
    if (!member.admitted && msg.type !== "leave" && msg.type !== "ping") {
      this.reject(member, "not_admitted", "you are in the waiting room until a host admits you", msg.id);
      return false;
    }
    return (handlers[msg.type] as (hub: Hub, m: Member, msg: unknown, at: number) => boolean)(this, member, msg, receivedAt);
  }

  /** An error frame about a client message, counted as a drop. */
  reject(member: Member, code: string, message: string, ref: string | undefined): void {
    this.metrics.dropped(code).inc();
    this.error(member, code, message, ref);
  }

  error(member: Member, code: string, message: string, ref: string | undefined): void {
    this.send(member, "error", ref === undefined ? { code, message } : { code, message, ref });
  }

  /** A server frame to one member (its own mailbox; never crosses to other participants). */
  send<T extends ServerType>(member: Member, type: T, data: ServerData<T>): void {
    this.deliver(member, serverMessage(type, data));
  }

  /** Relays a client message from `from` to one admitted peer of its room. */
  relayTo(from: Member, to: string, type: string, dataJson: string, receivedAt: number): boolean {
    const target = from.room.members.get(to);
    if (!target || !target.admitted || target === from) return false;
    this.router.toParticipant(from.room.settings.id, to, outgoing(type, from.fromJson, dataJson, receivedAt));
    this.relayed(type, receivedAt);
    return true;
  }

  /** Relays a client message from `from` to every other admitted member of its room. */
  relayToRoom(from: Member, type: string, dataJson: string, receivedAt: number): void {
    this.router.toRoom(from.room.settings.id, outgoing(type, from.fromJson, dataJson, receivedAt), from.id);
    this.relayed(type, receivedAt);
  }

  private relayed(type: string, receivedAt: number): void {
    this.metrics.relayed(type).inc();
    if (receivedAt) this.metrics.latency.observe((performance.now() - receivedAt) / 1000);
  }

  // LocalDelivery: what routers call on this node.
  deliverTo(roomId: string, participantId: string, msg: Outgoing): boolean {
    const m = this.rooms.get(roomId)?.members.get(participantId);
    if (!m) return false;
    this.deliver(m, msg);
    return true;
  }

  deliverToRoom(roomId: string, msg: Outgoing, exceptId?: string): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    for (const m of room.members.values()) if (m.admitted && m.id !== exceptId) this.deliver(m, msg);
  }

  private deliver(m: Member, msg: Outgoing): void {
    const frame = m.mailbox.append(msg.tail);
    m.conn?.push(frame, m.mailbox.lastSeq);
  }

  // ------------------------------------------------------------ room-wide events

  /** The room ended (host, REST, timeout): everyone gets room-ended and is closed with 4010. */
  roomEnded(roomId: string, reason: string): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    this.rooms.delete(roomId);
    const msg = serverMessage("room-ended", { reason });
    for (const m of [...room.members.values()]) {
      this.deliver(m, msg);
      const conn = m.conn;
      this.leave(m, "room_ended");
      conn?.close(CLOSE.roomEnded, `room ended: ${reason}`.slice(0, 120));
    }
  }

  recordingChanged(roomId: string, recordingId: string, participantId: string, active: boolean): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    if (active) room.recordings.set(recordingId, participantId);
    else room.recordings.delete(recordingId);
    // `by`: who is recording now (when one of several recordings stops, another recorder).
    const by = active ? participantId : (room.recordings.values().next().value ?? null);
    this.router.toRoom(roomId, serverMessage("recording", { active: room.recordings.size > 0, by, recordingId }));
  }

  // ------------------------------------------------------------ figures

  connections(): { ws: number; poll: number } {
    let ws = 0;
    let poll = 0;
    for (const room of this.rooms.values())
      for (const m of room.members.values()) {
        if (m.conn?.transport === "ws") ws++;
        else if (m.conn?.transport === "poll") poll++;
      }
    return { ws, poll };
  }

  activeRooms(): number {
    let n = 0;
    for (const room of this.rooms.values()) if (room.admittedCount > 0) n++;
    return n;
  }

  waitingCount(): number {
    let n = 0;
    for (const room of this.rooms.values()) n += room.members.size - room.admittedCount;
    return n;
  }

  /** Whether a participant may hold media resources now; `undefined` when the hub does not know the room. */
  isAdmitted(roomId: string, participantId: string): boolean | undefined {
    const room = this.rooms.get(roomId);
    if (!room) return undefined;
    const m = room.members.get(participantId);
    if (m) return m.admitted;
    return room.everAdmitted.has(participantId) ? true : undefined;
  }

  /** Forgets rooms nobody has been in for a while (their seq counters and admissions). */
  sweepRooms(idleMs: number, now = Date.now()): void {
    for (const [id, room] of this.rooms) if (room.members.size === 0 && now - room.emptySince > idleMs) this.rooms.delete(id);
  }

  /** Every present member (shutdown). */
  /**
   * The process is stopping: close every attendance span, but send no `peer-left`. Media is peer to
   * peer and outlives this process; the pages keep their connections and meet again in the next one
   * (resume → resync), so telling them that everyone left would tear down calls for nothing.
   */
  shutdown(): void {
    this.stopping = true;
    for (const m of [...this.allMembers()]) this.leave(m, "server_shutdown");
  }

  *allMembers(): Iterable<Member> {
    for (const room of this.rooms.values()) yield* room.members.values();
  }
}
