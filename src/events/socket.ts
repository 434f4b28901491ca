import { upgradeWebSocket } from "@hono/node-server";
import { Hono } from "hono";
import type { WSContext } from "hono/ws";
import type WebSocket from "ws";
import { bearer, isApiKey } from "../auth/apiKey.js";
import type { AppContext } from "../context.js";
import { HttpProblem } from "../http/problem.js";
import { defineRoute } from "../http/route.js";
import { z } from "zod";
import type { PublicFrame } from "./frames.js";

/** A subscriber that has this much unsent data is too slow to keep up and is dropped. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
const HEARTBEAT_MS = 30_000;

/**
 * `/events/:roomId` WebSocket subscribers of the main application, by room.
 * Frames are serialized once per event and written to every subscriber; a
 * subscriber never slows the call (a slow one is closed with 1013).
 */
export class EventSockets {
  private readonly byRoom = new Map<string, Set<WSContext<WebSocket>>>();
  private readonly alive = new WeakSet<WebSocket>();
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly ctx: AppContext) {}

  publish(frame: PublicFrame): void {
    const subs = this.byRoom.get(frame.roomId);
    if (!subs?.size) return;
    const text = JSON.stringify({ type: frame.type, data: frame.data });
    for (const ws of subs) {
      if (ws.raw && ws.raw.bufferedAmount > MAX_BUFFERED_BYTES) {
        ws.close(1013, "subscriber too slow");
        continue;
      }
      ws.send(text);
    }
  }

  count(): number {
    let n = 0;
    for (const s of this.byRoom.values()) n += s.size;
    return n;
  }

  start(): void {
    // Pings find subscribers whose network vanished without a close (laptop lid, NAT timeout).
    this.heartbeat = setInterval(() => {
      for (const subs of this.byRoom.values()) {
        for (const ws of subs) {
          const raw = ws.raw;
          if (!raw) continue;
          if (!this.alive.has(raw)) {
            raw.terminate();
            continue;
          }
          this.alive.delete(raw);
          raw.ping();
        }
      }
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  stop(): void {
    clearInterval(this.heartbeat);
    for (const subs of this.byRoom.values()) for (const ws of subs) ws.close(1001, "server shutting down");
    this.byRoom.clear();
  }

  routes = (): Hono => {
    const app = new Hono();
    defineRoute(
      app,
      {
        method: "get",
        path: "/events/:roomId",
        summary: "Live domain events of one room (WebSocket upgrade): a `subscribed` frame, then one frame per event as in the room-service seed",
        tag: "Events",
        auth: "apiKey",
        query: z.object({ token: z.string().optional().describe("the management API key (browsers cannot set headers on a WebSocket); `Authorization: Bearer` works too") }),
        responses: { 101: "Switching Protocols", 401: "No or wrong API key", 404: "No such room", 426: "Not a WebSocket upgrade" },
      },
      (c, { query }) => {
        const key = query.token ?? bearer(c.req.header("authorization"));
        if (!isApiKey(key, this.ctx.config.apiKey)) throw new HttpProblem(401, "unauthorized", "Pass the management API key as ?token=<PARLEY_API_KEY>.");
        const roomId = c.req.param("roomId")!;
        this.ctx.rooms.require(roomId);
        if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
          throw new HttpProblem(426, "upgrade_required", "This is a WebSocket endpoint: connect with ws:// or wss://.");
        }
        return upgradeWebSocket(() => ({
          onOpen: (_e, ws) => {
            const sock = ws as WSContext<WebSocket>;
            const raw = sock.raw;
            if (raw) {
              this.alive.add(raw);
              raw.on("pong", () => this.alive.add(raw));
            }
            let subs = this.byRoom.get(roomId);
            if (!subs) this.byRoom.set(roomId, (subs = new Set()));
            subs.add(sock);
            const room = this.ctx.rooms.get(roomId);
            sock.send(JSON.stringify({ type: "subscribed", data: { roomId, status: room?.status ?? null, timestamp: new Date().toISOString() } }));
          },
          onClose: (_e, ws) => {
            const subs = this.byRoom.get(roomId);
            if (!subs) return;
            for (const s of subs) if (s.raw === (ws as WSContext<WebSocket>).raw) subs.delete(s);
            if (!subs.size) this.byRoom.delete(roomId);
          },
        }))(c, async () => {}) as Promise<Response>;
      },
    );
    return app;
  };
}
