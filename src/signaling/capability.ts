import { Hono } from "hono";
import type { Capability, CapabilityFactory } from "../server.js";
import { Hub } from "./hub.js";
import { SWEEP_INTERVAL_MS } from "./limits.js";
import { signalingMetrics } from "./metrics.js";
import { PollTransport } from "./poll.js";
import { hubServices } from "./services.js";
import { SessionRecordWriter } from "./sessionRecord.js";
import { WsTransport } from "./ws.js";

/** Rooms nobody is in are forgotten after this long (their seq counters and admissions). */
const IDLE_ROOM_MS = 60 * 60_000;

/** Signaling: the hub, its two transports, and the session record it feeds. */
export const signaling: CapabilityFactory = (ctx): Capability => {
  let ws: WsTransport | undefined;
  let poll: PollTransport | undefined;
  const metrics = signalingMetrics(ctx.metrics, {
    sockets: () => ws?.count() ?? 0,
    pollers: () => poll?.count() ?? 0,
    rooms: () => hub.activeRooms(),
    waiting: () => hub.waitingCount(),
  });
  const hub = new Hub(hubServices(ctx), ctx.bus, metrics);
  ws = new WsTransport(ctx, hub);
  poll = new PollTransport(ctx, hub);
  const record = new SessionRecordWriter(ctx);

  const fallbackAdmitted = ctx.live.isAdmitted;
  ctx.live.connections = () => {
    const c = hub.connections();
    return c.ws + c.poll;
  };
  ctx.live.activeRooms = () => hub.activeRooms();
  ctx.live.isAdmitted = (roomId, participantId, role) => hub.isAdmitted(roomId, participantId) ?? fallbackAdmitted(roomId, participantId, role);

  const unsubscribe = [
    ctx.bus.on("room-ended", (e) => hub.roomEnded(e.roomId, e.reason)),
    ctx.bus.on("recording-started", (e) => hub.recordingChanged(e.roomId, e.recordingId, e.participantId, true)),
    ctx.bus.on("recording-stopped", (e) => hub.recordingChanged(e.roomId, e.recordingId, e.participantId, false)),
  ];
  let sweeper: NodeJS.Timeout | undefined;

  return {
    name: "signaling",
    routes: () => {
      const app = new Hono();
      ws!.routes(app);
      poll!.routes(app);
      return app;
    },
    start() {
      sweeper = setInterval(() => {
        const now = Date.now();
        ws!.sweep(now);
        poll!.sweep(now);
        hub.sweepRooms(IDLE_ROOM_MS, now);
      }, SWEEP_INTERVAL_MS);
      sweeper.unref();
    },
    stop() {
      clearInterval(sweeper);
      for (const u of unsubscribe) u();
      // Close every span in the attendance record before the database closes.
      hub.shutdown();
      ws!.closeAll(1001, "server shutting down");
      poll!.closeAll();
      record.stop();
    },
  };
};
