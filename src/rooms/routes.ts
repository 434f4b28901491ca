import { Hono } from "hono";
import { z } from "zod";
import { requireApiKey } from "../auth/apiKey.js";
import { HttpProblem } from "../http/problem.js";
import { defineRoute } from "../http/route.js";
import type { AppContext } from "../context.js";
import {
  bulkStatusBody,
  createdRoom,
  createRoomBody,
  endRoomBody,
  guestBody,
  listRoomsQuery,
  mintedToken,
  mintTokenBody,
  patchConfigBody,
  prewarmBody,
  roomStatus,
  roomView,
  seedCreateBody,
} from "./schemas.js";

const GUEST_TTL = 4 * 3600;

export function roomRoutes(ctx: AppContext): Hono {
  const app = new Hono();
  const { rooms } = ctx;
  const key = [requireApiKey(ctx.config.apiKey)];
  const tag = "Rooms";
  const roomId = (c: { req: { param(n: string): string | undefined } }) => c.req.param("roomId")!;

  defineRoute(
    app,
    {
      method: "post",
      path: "/api/rooms/create",
      summary: "Create a room (room-service seed shape)",
      tag,
      auth: "apiKey",
      middleware: key,
      body: seedCreateBody,
      responses: { 201: "Room created: {success, roomId, sessionId, status: 'ready', connectionUrls}", 409: "Room id already used" },
    },
    (c, { body }) => c.json(rooms.createFromSeed(body), 201),
  );

  defineRoute(
    app,
    {
      method: "post",
      path: "/api/rooms/bulk-status",
      summary: "Status of many rooms at once",
      tag,
      auth: "apiKey",
      middleware: key,
      body: bulkStatusBody,
      responses: { 200: "{rooms: {<roomId>: {status, participants}}}" },
    },
    (c, { body }) => c.json(rooms.bulkStatus(body.roomIds)),
  );

  defineRoute(
    app,
    {
      method: "post",
      path: "/api/rooms",
      summary: "Create a room",
      tag,
      auth: "apiKey",
      middleware: key,
      body: createRoomBody,
      responses: { 201: { description: "Room created, with a token and join link per participant", schema: createdRoom }, 409: "Room id already used" },
    },
    (c, { body }) => c.json(rooms.create(body), 201),
  );

  defineRoute(
    app,
    {
      method: "get",
      path: "/api/rooms",
      summary: "List rooms, newest first",
      tag,
      auth: "apiKey",
      middleware: key,
      query: listRoomsQuery,
      responses: { 200: { description: "Rooms", schema: z.object({ rooms: z.array(roomView) }) } },
    },
    (c, { query }) => c.json({ rooms: rooms.list(query).map((r) => rooms.view(r)) }),
  );

  defineRoute(
    app,
    {
      method: "get",
      path: "/api/rooms/:roomId",
      summary: "One room, with its participants",
      tag,
      auth: "apiKey",
      middleware: key,
      responses: { 200: { description: "Room", schema: roomView }, 404: "No such room" },
    },
    (c) => {
      const room = rooms.require(roomId(c));
      const status = rooms.status(room.id);
      return c.json({ ...rooms.view(room), participants: Object.values(status.participants) });
    },
  );

  defineRoute(
    app,
    {
      method: "get",
      path: "/api/rooms/:roomId/status",
      summary: "Live status and attendance (room-service seed shape)",
      tag,
      auth: "apiKey",
      middleware: key,
      responses: { 200: { description: "Status", schema: roomStatus }, 404: "No such room" },
    },
    (c) => c.json(rooms.status(roomId(c))),
  );

  defineRoute(
    app,
    {
      method: "post",
      path: "/api/rooms/:roomId/end",
      summary: "End a room for everyone",
      tag,
      auth: "apiKey",
      middleware: key,
      body: endRoomBody,
      responses: { 200: "{success, roomId, endedAt, finalDuration}", 404: "No such room", 410: "Already ended" },
    },
    (c, { body }) => c.json(rooms.end(roomId(c), body.reason, body.requestedBy ?? null)),
  );

  defineRoute(
    app,
    {
      method: "patch",
      path: "/api/rooms/:roomId/config",
      summary: "Change a room's settings",
      tag,
      auth: "apiKey",
      middleware: key,
      body: patchConfigBody,
      responses: { 200: { description: "The room after the change", schema: roomView }, 404: "No such room", 410: "Room ended" },
    },
    (c, { body }) => c.json(rooms.patchConfig(roomId(c), body)),
  );

  defineRoute(
    app,
    {
      method: "post",
      path: "/api/rooms/:roomId/tokens",
      summary: "Mint a participant token and join link",
      tag,
      auth: "apiKey",
      middleware: key,
      body: mintTokenBody,
      responses: { 201: { description: "Token", schema: mintedToken }, 404: "No such room", 410: "Room ended" },
    },
    (c, { body }) => c.json(rooms.mintToken(roomId(c), body), 201),
  );

  defineRoute(
    app,
    {
      method: "post",
      path: "/api/rooms/:roomId/pre-warm",
      summary: "Mark a room as about to start",
      tag,
      auth: "apiKey",
      middleware: key,
      body: prewarmBody,
      responses: { 200: "{success, roomId, resourcesAllocated}", 404: "No such room" },
    },
    (c, { body }) => c.json(rooms.prewarm(roomId(c), body.scheduledStartTime)),
  );

  defineRoute(
    app,
    {
      method: "post",
      path: "/api/rooms/:roomId/guest",
      summary: "Join as a guest (rooms with allowGuests)",
      tag,
      auth: "none",
      body: guestBody,
      responses: { 201: { description: "Guest token", schema: mintedToken }, 403: "Guests not allowed", 404: "No such room", 410: "Room ended" },
    },
    (c, { body }) => {
      const room = rooms.require(roomId(c));
      if (!room.allowGuests) throw new HttpProblem(403, "guests_not_allowed", "This room does not admit guests; ask the organiser for a personal link.");
      return c.json(rooms.mintToken(room.id, { name: body.name, role: "participant", ttlSeconds: GUEST_TTL, guest: true }, "guest"), 201);
    },
  );

  return app;
}
