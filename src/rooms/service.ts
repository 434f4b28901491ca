import { randomUUID } from "node:crypto";
import { and, desc, eq, inArray, isNotNull, sql } from "drizzle-orm";
import type { z } from "zod";
import type { AuditLog } from "../audit/log.js";
import { signParticipantToken, verifyParticipantToken } from "../auth/tokens.js";
import type { Config } from "../config.js";
import type { Db } from "../db/open.js";
import { participants, rooms, sessions } from "../db/schema.js";
import type { EventBus } from "../events/bus.js";
import { HttpProblem, notFound } from "../http/problem.js";
import type { Attendance } from "./attendance.js";
import type { CreateRoomBody, patchConfigBody, roomStatus, roomView } from "./schemas.js";

export type RoomRow = typeof rooms.$inferSelect;
export type ParticipantRow = typeof participants.$inferSelect;
type RoomView = z.output<typeof roomView>;

const DAY = 86400;

interface Deps {
  db: Db;
  config: Config;
  bus: EventBus;
  audit: AuditLog;
  attendance: Attendance;
}

/** Room lifecycle: creation, settings, tokens, status and the end of a room. */
export class RoomService {
  constructor(private readonly d: Deps) {}

  /**
   * Statements on the path of every participant request (each long-poll GET
   * and POST authenticates): built and prepared once, not per call — drizzle's
   * query building and SQLite's prepare were a third of a poll's CPU.
   */
  private hot?: ReturnType<RoomService["prepareHot"]>;
  private prepareHot() {
    const { db } = this.d;
    return {
      room: db.select().from(rooms).where(eq(rooms.id, sql.placeholder("id"))).prepare(),
      removed: db
        .select({ removedAt: participants.removedAt })
        .from(participants)
        .where(and(eq(participants.roomId, sql.placeholder("roomId")), eq(participants.id, sql.placeholder("id")), isNotNull(participants.removedAt)))
        .prepare(),
    };
  }

  get(roomId: string): RoomRow | undefined {
    return (this.hot ??= this.prepareHot()).room.get({ id: roomId });
  }

  require(roomId: string): RoomRow {
    const room = this.get(roomId);
    if (!room) throw notFound("room", roomId);
    return room;
  }

  list(filter: { status?: RoomRow["status"]; limit: number; offset: number }): RoomRow[] {
    return this.d.db
      .select()
      .from(rooms)
      .where(filter.status ? eq(rooms.status, filter.status) : undefined)
      .orderBy(desc(rooms.createdAt))
      .limit(filter.limit)
      .offset(filter.offset)
      .all();
  }

  joinUrl(roomId: string, token?: string): string {
    const base = `${this.d.config.publicUrl}/join/${encodeURIComponent(roomId)}`;
    return token ? `${base}?token=${encodeURIComponent(token)}` : base;
  }

  websocketUrl(): string {
    return `${this.d.config.publicUrl.replace(/^http/, "ws")}/ws`;
  }

  view(room: RoomRow): RoomView {
    return {
      roomId: room.id,
      sessionId: room.sessionId,
      title: room.title,
      status: room.status,
      maxParticipants: room.maxParticipants,
      waitingRoom: room.waitingRoom,
      allowGuests: room.allowGuests,
      recording: { enabled: room.recordingEnabled, requireConsent: room.recordingRequireConsent },
      hostRoles: room.hostRoles,
      scheduledStartTime: room.scheduledStartTime,
      maxDuration: room.maxDuration,
      joinUrl: this.joinUrl(room.id),
      websocketUrl: this.websocketUrl(),
      createdAt: room.createdAt,
      startedAt: room.startedAt,
      endedAt: room.endedAt,
      endReason: room.endReason,
    };
  }

  /**
   * Tokens minted at creation live until well after the visit could end:
   * the scheduled start (or now) plus the longest duration plus a day.
   */
  private defaultTtl(room: Pick<RoomRow, "scheduledStartTime" | "maxDuration">): number {
    const start = room.scheduledStartTime ? Math.max(Date.parse(room.scheduledStartTime), Date.now()) : Date.now();
    return Math.ceil((start - Date.now()) / 1000) + (room.maxDuration ?? 4 * 3600) + DAY;
  }

  create(body: CreateRoomBody & { extra?: Record<string, unknown>; preRegistered?: { id: string; name: string | null; role: string }[] }, actor = "api") {
    const roomId = body.roomId ?? randomUUID();
    const sessionId = body.sessionId ?? randomUUID();
    if (this.get(roomId)) throw new HttpProblem(409, "room_exists", `A room with id "${roomId}" already exists.`);
    const ids = body.participants.map((p) => p.id).filter(Boolean);
    if (new Set(ids).size !== ids.length) throw new HttpProblem(400, "invalid_body", "Participant ids must be unique within a room.");

    const at = new Date().toISOString();
    const minted: { id: string; name: string; role: string; token: string; joinUrl: string }[] = [];
    this.d.db.transaction((tx) => {
      tx.insert(rooms)
        .values({
          id: roomId,
          sessionId,
          title: body.title ?? null,
          maxParticipants: body.maxParticipants,
          waitingRoom: body.waitingRoom,
          allowGuests: body.allowGuests,
          recordingEnabled: body.recording?.enabled ?? false,
          recordingRequireConsent: body.recording?.requireConsent ?? true,
          hostRoles: body.hostRoles ?? [],
          scheduledStartTime: body.scheduledStartTime ?? null,
          maxDuration: body.maxDuration ?? null,
          extra: body.extra ?? null,
          createdAt: at,
        })
        .run();
      tx.insert(sessions).values({ id: sessionId, roomId, createdAt: at }).run();
      const ttl = this.defaultTtl({ scheduledStartTime: body.scheduledStartTime ?? null, maxDuration: body.maxDuration ?? null });
      for (const p of body.participants) {
        const t = signParticipantToken(this.d.config.jwtSecret, { id: p.id, roomId, sessionId, role: p.role, name: p.name, ttlSeconds: ttl });
        tx.insert(participants)
          .values({ roomId, id: t.participantId, sessionId, name: p.name, role: p.role, email: p.email ?? null, createdAt: at })
          .run();
        minted.push({ id: t.participantId, name: p.name, role: p.role, token: t.token, joinUrl: this.joinUrl(roomId, t.token) });
      }
      for (const p of body.preRegistered ?? []) {
        tx.insert(participants).values({ roomId, id: p.id, sessionId, name: p.name, role: p.role, createdAt: at }).onConflictDoNothing().run();
      }
    });
    this.d.audit.record(roomId, actor, "room.created", { sessionId, title: body.title ?? null }, at);
    this.d.bus.emit("room-created", { roomId, sessionId, at });
    return { ...this.view(this.require(roomId)), participants: minted };
  }

  /**
   * The room-service seed's create: its participants arrive with tokens the
   * main app signed (with the same secret). Names and roles are read from
   * those tokens when they verify, so the status page can show them; the
   * seed's `coach` is the host of its room.
   */
  createFromSeed(body: { roomId: string; sessionId?: string; participants: Record<string, unknown>; config: Record<string, unknown> & { features?: Record<string, unknown> } }) {
    const pre: { id: string; name: string | null; role: string }[] = [];
    const tokens: Record<string, string | undefined> = {};
    for (const key of ["coach", "client"] as const) {
      const p = body.participants[key] as { id: string; token?: string } | undefined;
      if (!p) continue;
      let name: string | null = null;
      let role: string = key;
      if (p.token) {
        try {
          const claims = verifyParticipantToken(p.token, this.d.config.jwtSecret);
          name = claims.name;
          role = claims.roleLabel ?? claims.role;
        } catch {
          // A token signed with another secret still becomes the join link; it will be refused at join, with a clear code.
        }
      }
      pre.push({ id: p.id, name, role });
      tokens[key] = p.token;
    }
    const features = body.config.features ?? {};
    const { features: _f, scheduledStartTime, maxDuration, ...restConfig } = body.config;
    const created = this.create({
      roomId: body.roomId,
      sessionId: body.sessionId,
      maxParticipants: 8,
      waitingRoom: false,
      allowGuests: false,
      recording: { enabled: features.recording === true, requireConsent: true },
      scheduledStartTime: scheduledStartTime as string | undefined,
      maxDuration: maxDuration as number | undefined,
      hostRoles: ["coach"],
      participants: [],
      preRegistered: pre,
      extra: { features, ...restConfig, ...(body.participants.aiOrb ? { aiOrb: body.participants.aiOrb } : {}) },
    });
    const link = (key: "coach" | "client") => (tokens[key] ? this.joinUrl(created.roomId, tokens[key]) : null);
    return {
      success: true as const,
      roomId: created.roomId,
      sessionId: created.sessionId,
      status: "ready" as const,
      connectionUrls: {
        coach: link("coach"),
        client: link("client"),
        websocket: `${this.d.config.publicUrl.replace(/^http/, "ws")}/events/${encodeURIComponent(created.roomId)}`,
      },
    };
  }

  patchConfig(roomId: string, patch: z.output<typeof patchConfigBody>, actor = "api"): RoomView {
    const room = this.require(roomId);
    if (room.status === "ended") throw new HttpProblem(410, "room_ended", "The room has ended; its settings can no longer change.");
    const set: Partial<RoomRow> = {};
    if (patch.title !== undefined) set.title = patch.title;
    if (patch.waitingRoom !== undefined) set.waitingRoom = patch.waitingRoom;
    if (patch.allowGuests !== undefined) set.allowGuests = patch.allowGuests;
    if (patch.maxParticipants !== undefined) set.maxParticipants = patch.maxParticipants;
    if (patch.recording?.enabled !== undefined) set.recordingEnabled = patch.recording.enabled;
    if (patch.recording?.requireConsent !== undefined) set.recordingRequireConsent = patch.recording.requireConsent;
    if (patch.features?.recording !== undefined && patch.recording?.enabled === undefined) set.recordingEnabled = patch.features.recording;
    if (patch.maxDuration !== undefined) set.maxDuration = patch.maxDuration;
    if (patch.scheduledStartTime !== undefined) set.scheduledStartTime = patch.scheduledStartTime;
    if (patch.hostRoles !== undefined) set.hostRoles = patch.hostRoles;
    if (Object.keys(set).length) {
      this.d.db.update(rooms).set(set).where(eq(rooms.id, roomId)).run();
      this.d.audit.record(roomId, actor, "room.config_changed", set as Record<string, unknown>);
    }
    return this.view(this.require(roomId));
  }

  mintToken(roomId: string, input: { id?: string; name: string; role: string; ttlSeconds: number; guest?: boolean; email?: string }, actor = "api") {
    const room = this.require(roomId);
    if (room.status === "ended") throw new HttpProblem(410, "room_ended", "The room has ended; no new tokens are issued for it.");
    const existing = input.id ? this.participant(roomId, input.id) : undefined;
    if (existing?.removedAt) throw new HttpProblem(403, "participant_removed", `Participant "${input.id}" was removed from this room.`);
    const t = signParticipantToken(this.d.config.jwtSecret, { ...input, roomId, sessionId: room.sessionId });
    this.d.db
      .insert(participants)
      .values({ roomId, id: t.participantId, sessionId: room.sessionId, name: input.name, role: input.role, email: input.email ?? null })
      .onConflictDoUpdate({ target: [participants.roomId, participants.id], set: { name: input.name, role: input.role } })
      .run();
    this.d.audit.record(roomId, actor, input.guest ? "guest.token_issued" : "token.issued", { participantId: t.participantId, role: input.role });
    return { participantId: t.participantId, token: t.token, joinUrl: this.joinUrl(roomId, t.token), expiresAt: t.expiresAt };
  }

  participant(roomId: string, participantId: string): ParticipantRow | undefined {
    return this.d.db
      .select()
      .from(participants)
      .where(and(eq(participants.roomId, roomId), eq(participants.id, participantId)))
      .get();
  }

  participantsOf(roomId: string): ParticipantRow[] {
    return this.d.db.select().from(participants).where(eq(participants.roomId, roomId)).orderBy(participants.createdAt).all();
  }

  /** Marks a participant removed for the rest of the session (their token is refused from now on). */
  markRemoved(roomId: string, participantId: string, by: string): void {
    const room = this.require(roomId);
    const at = new Date().toISOString();
    this.d.db
      .insert(participants)
      .values({ roomId, id: participantId, sessionId: room.sessionId, role: "participant", removedAt: at })
      .onConflictDoUpdate({ target: [participants.roomId, participants.id], set: { removedAt: at } })
      .run();
    this.d.audit.record(roomId, by, "participant.removed", { participantId }, at);
  }

  isRemoved(roomId: string, participantId: string): boolean {
    return Boolean((this.hot ??= this.prepareHot()).removed.get({ roomId, id: participantId }));
  }

  /** First admitted join: the room becomes active. Returns true when this call started it. */
  markStarted(roomId: string, at = new Date().toISOString()): boolean {
    const res = this.d.db
      .update(rooms)
      .set({ status: "active", startedAt: at })
      .where(and(eq(rooms.id, roomId), eq(rooms.status, "waiting")))
      .run();
    if (res.changes === 0) return false;
    const room = this.require(roomId);
    this.d.db.update(sessions).set({ startedAt: at }).where(eq(sessions.id, room.sessionId)).run();
    this.d.audit.record(roomId, "system", "room.started", { sessionId: room.sessionId }, at);
    this.d.bus.emit("room-started", { roomId, sessionId: room.sessionId, at });
    return true;
  }

  end(roomId: string, reason: string, requestedBy: string | null) {
    const room = this.require(roomId);
    if (room.status === "ended") throw new HttpProblem(410, "room_ended", `The room ended at ${room.endedAt}.`, { endedAt: room.endedAt });
    const endedAt = new Date().toISOString();
    const finalDuration = room.startedAt ? Math.max(0, Math.round((Date.parse(endedAt) - Date.parse(room.startedAt)) / 1000)) : 0;
    this.d.db.transaction((tx) => {
      tx.update(rooms).set({ status: "ended", endedAt, endReason: reason, endedBy: requestedBy }).where(eq(rooms.id, roomId)).run();
      tx.update(sessions).set({ endedAt }).where(eq(sessions.id, room.sessionId)).run();
    });
    this.d.audit.record(roomId, requestedBy ?? "api", "room.ended", { reason, finalDuration }, endedAt);
    // Signaling listens for this and closes every connection with `room-ended`.
    this.d.bus.emit("room-ended", { roomId, sessionId: room.sessionId, at: endedAt, reason, endedBy: requestedBy, finalDuration });
    return { success: true as const, roomId, endedAt, finalDuration };
  }

  prewarm(roomId: string, scheduledStartTime?: string) {
    const room = this.require(roomId);
    if (room.status === "ended") throw new HttpProblem(410, "room_ended", "The room has ended.");
    const at = new Date().toISOString();
    const set: Partial<RoomRow> = { prewarmedAt: at };
    if (scheduledStartTime) set.scheduledStartTime = scheduledStartTime;
    this.d.db.update(rooms).set(set).where(eq(rooms.id, roomId)).run();
    return { success: true as const, roomId, resourcesAllocated: true, prewarmedAt: at };
  }

  status(roomId: string): z.output<typeof roomStatus> {
    this.d.attendance.flush();
    const room = this.require(roomId);
    const now = Date.now();
    const out: z.output<typeof roomStatus>["participants"] = {};
    for (const p of this.participantsOf(roomId)) {
      const open = p.connected && p.lastJoinedAt ? (now - Date.parse(p.lastJoinedAt)) / 1000 : 0;
      out[p.id] = {
        id: p.id,
        role: p.roleLabel ?? p.role,
        name: p.name,
        connected: p.connected,
        joinedAt: p.firstJoinedAt,
        leftAt: p.connected ? null : p.leftAt,
        totalDuration: Math.round(p.totalSeconds + open),
      };
    }
    const end = room.endedAt ? Date.parse(room.endedAt) : now;
    return {
      roomId: room.id,
      sessionId: room.sessionId,
      status: room.status,
      participants: out,
      actualStartTime: room.startedAt,
      currentDuration: room.startedAt ? Math.max(0, Math.round((end - Date.parse(room.startedAt)) / 1000)) : 0,
    };
  }

  bulkStatus(roomIds: string[]) {
    this.d.attendance.flush();
    const found = this.d.db
      .select({
        id: rooms.id,
        status: rooms.status,
        connected: sql<number>`(select count(*) from participants p where p.room_id = ${rooms.id} and p.connected = 1)`,
      })
      .from(rooms)
      .where(inArray(rooms.id, roomIds))
      .all();
    const out: Record<string, { status: string; participants: number } | { status: "not_found"; participants: 0 }> = {};
    for (const id of roomIds) out[id] = { status: "not_found", participants: 0 };
    for (const r of found) out[r.id] = { status: r.status, participants: r.connected };
    return { rooms: out };
  }

  /** Active rooms that have run past their `maxDuration` (checked periodically, so it holds across restarts). */
  overdue(now = Date.now()): RoomRow[] {
    return this.d.db
      .select()
      .from(rooms)
      .where(and(eq(rooms.status, "active"), isNotNull(rooms.maxDuration)))
      .all()
      .filter((r) => r.startedAt && Date.parse(r.startedAt) + r.maxDuration! * 1000 <= now);
  }

  countByStatus(status: RoomRow["status"]): number {
    return this.d.db.select({ n: sql<number>`count(*)` }).from(rooms).where(eq(rooms.status, status)).get()?.n ?? 0;
  }
}
