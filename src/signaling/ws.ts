import { upgradeWebSocket } from "@hono/node-server";
import type { Hono } from "hono";
import type { Socket } from "node:net";
import type { WebSocket } from "ws";
import { z } from "zod";
import { authenticateParticipant } from "../auth/participant.js";
import type { AppContext } from "../context.js";
import { HttpProblem } from "../http/problem.js";
import { defineRoute } from "../http/route.js";
import type { Connection } from "./connection.js";
import type { Hub, Member } from "./hub.js";
import { ACK_EVERY_FRAMES, PING_INTERVAL_MS, SLOW_CONSUMER_BYTES, SLOW_CONSUMER_CLOSE_MS, SOCKET_DEAD_AFTER_MS } from "./limits.js";
import { closeFor, closeReason, settingsOf } from "./services.js";

const OPEN = 1;

/** Sockets written to in this turn of the event loop: corked, and uncorked together once it ends. */
const corked: WsConnection[] = [];
let uncorkScheduled = false;
function uncorkAll(): void {
  uncorkScheduled = false;
  for (const c of corked) c.uncork();
  corked.length = 0;
}

/** One WebSocket serving one member. Each frame stays its own WebSocket message. */
class WsConnection implements Connection {
  readonly transport = "ws" as const;
  member: Member | undefined;
  /** Highest seq handed to the socket. */
  private sentSeq = 0;
  /** seq carried by the last ping (its pong acknowledges everything up to it). */
  private ackAskedSeq = 0;
  lastSeen = Date.now();
  lastPing = Date.now();
  stalledSince = 0;
  private isCorked = false;
  private readonly socket: Socket | undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly hub: Hub,
  ) {
    // ws keeps the net.Socket private; corking it batches this tick's frames into one write.
    this.socket = (ws as unknown as { _socket?: Socket })._socket;
  }

  attach(member: Member, deliveredUpTo: number): void {
    this.member = member;
    this.sentSeq = deliveredUpTo;
    this.ackAskedSeq = deliveredUpTo;
  }

  push(frame: string, seq: number): void {
    if (this.stalledSince || this.ws.readyState !== OPEN) return;
    if (this.ws.bufferedAmount > SLOW_CONSUMER_BYTES) {
      this.stall();
      return;
    }
    if (!this.isCorked && this.socket) {
      this.isCorked = true;
      this.socket.cork();
      corked.push(this);
      if (!uncorkScheduled) {
        uncorkScheduled = true;
        setImmediate(uncorkAll);
      }
    }
    this.ws.send(frame);
    this.sentSeq = seq;
    if (seq - this.ackAskedSeq >= ACK_EVERY_FRAMES) this.askAck();
  }

  uncork(): void {
    this.isCorked = false;
    this.socket?.uncork();
  }

  close(code: number, reason: string): void {
    this.member = undefined;
    if (this.ws.readyState === OPEN || this.ws.readyState === 0) this.ws.close(code, closeReason(reason));
  }

  /** A ping carrying the last sent seq: the pong proves the client has every frame up to it. */
  askAck(): void {
    if (this.ws.readyState !== OPEN) return;
    this.ackAskedSeq = this.sentSeq;
    this.lastPing = Date.now();
    this.ws.ping(String(this.sentSeq));
  }

  onPong(data: Buffer): void {
    this.lastSeen = Date.now();
    const seq = Number(data.toString());
    if (this.member && Number.isInteger(seq)) this.member.mailbox.ack(seq);
  }

  /** Past the buffer bound: stop pushing; frames wait in the mailbox until the socket drains. */
  private stall(): void {
    this.stalledSince = Date.now();
    this.hub.metrics.dropped("slow_consumer").inc();
    const resume = () => this.catchUp();
    if (this.socket) this.socket.once("drain", resume);
    else setTimeout(resume, 50);
  }

  private catchUp(): void {
    this.stalledSince = 0;
    const m = this.member;
    if (!m || this.ws.readyState !== OPEN) return;
    if (!m.mailbox.canReplayFrom(this.sentSeq)) {
      // Frames fell out of the window while stuck: the client must resume (and will be resynced).
      this.ws.terminate();
      return;
    }
    const from = this.sentSeq;
    const frames = m.mailbox.since(from);
    for (let i = 0; i < frames.length && !this.stalledSince; i++) this.push(frames[i]!, from + 1 + i);
  }
}

/** `GET /ws`: the WebSocket transport. */
export class WsTransport {
  private readonly conns = new Set<WsConnection>();

  constructor(
    private readonly ctx: AppContext,
    private readonly hub: Hub,
  ) {}

  count(): number {
    return this.conns.size;
  }

  routes(app: Hono): void {
    const query = z.object({
      token: z.string().optional().describe("participant token (JWT)"),
      resume: z.string().optional().describe("last seq received, to replay what was missed"),
      roomId: z.string().optional().describe("room the client expects; a token for another room is refused (4003)"),
    });
    defineRoute(
      app,
      {
        method: "get",
        path: "/ws",
        summary: "Signaling WebSocket (upgrade). Token problems close the socket with 4401/4003/4004/4009/4010.",
        tag: "Signaling",
        auth: "participant",
        query,
        responses: { 101: "Switching Protocols", 401: "No token", 426: "Not a WebSocket upgrade" },
      },
      (c, { query: q }) => {
        if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
          throw new HttpProblem(426, "upgrade_required", "GET /ws is the signaling WebSocket; connect with a WebSocket client, or use the long-poll API under /api/signal.");
        }
        if (!q.token) throw new HttpProblem(401, "missing_token", "Pass the participant token as ?token=<jwt>.");
        const resume = q.resume !== undefined && /^\d{1,15}$/.test(q.resume) ? Number(q.resume) : q.resume !== undefined ? 0 : undefined;
        const token = q.token;
        return upgradeWebSocket(() => ({ onOpen: (_e, w) => this.open(w.raw as WebSocket, token, resume, q.roomId) }))(c, async () => {}) as Promise<Response>;
      },
    );
  }

  private open(ws: WebSocket, token: string, resume: number | undefined, roomId: string | undefined): void {
    ws.on("error", () => {});
    let admitted;
    try {
      admitted = authenticateParticipant(this.ctx, token, roomId);
    } catch (err) {
      if (!(err instanceof HttpProblem)) throw err;
      const r = closeFor(err);
      ws.close(r.code, r.reason);
      return;
    }
    const conn = new WsConnection(ws, this.hub);
    this.conns.add(conn);
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      const m = conn.member;
      if (!m) return;
      const at = performance.now();
      conn.lastSeen = Date.now();
      if (isBinary) this.hub.reject(m, "invalid_message", "binary frames are not accepted; send JSON text", undefined);
      else this.hub.receiveText(m, data.toString(), at);
    });
    ws.on("pong", (data: Buffer) => conn.onPong(data));
    ws.on("close", (code: number) => this.closed(conn, code));
    const out = this.hub.join(admitted.participant, settingsOf(admitted.room), conn, resume);
    if (!out.ok) {
      conn.member = undefined;
      ws.close(out.close, closeReason(`${out.code}: ${out.reason}`));
    }
  }

  private closed(conn: WsConnection, code: number): void {
    this.conns.delete(conn);
    const m = conn.member;
    conn.member = undefined;
    if (!m || m.conn !== conn) return;
    // 1006: dropped without a close frame (network change, sleep): keep the place for a resume.
    if (code === 1006) this.hub.connectionLost(m, conn);
    else this.hub.leave(m, "left");
  }

  /** Heartbeat and slow-consumer checks; a silent socket is gone within 30 s (API.md). */
  sweep(now = Date.now()): void {
    for (const conn of this.conns) {
      if (now - conn.lastSeen > SOCKET_DEAD_AFTER_MS) {
        this.conns.delete(conn);
        const m = conn.member;
        conn.member = undefined;
        if (m && m.conn === conn) this.hub.leave(m, "timeout");
        conn.ws.terminate();
      } else if (conn.stalledSince && now - conn.stalledSince > SLOW_CONSUMER_CLOSE_MS) {
        // Stuck: cut it so the client reconnects and resumes from the mailbox.
        this.conns.delete(conn);
        const m = conn.member;
        conn.member = undefined;
        if (m && m.conn === conn) this.hub.connectionLost(m, conn);
        conn.ws.terminate();
      } else if (now - conn.lastPing >= PING_INTERVAL_MS) {
        conn.askAck();
      }
    }
  }

  closeAll(code: number, reason: string): void {
    for (const conn of this.conns) conn.close(code, reason);
    this.conns.clear();
  }
}
