/**
 * The page's side of the signaling protocol (API.md), over a WebSocket with
 * resume, or over REST long-poll when WebSockets cannot get through. Frames
 * are validated with the server's own zod schemas (src/signaling/protocol.ts).
 */
import { CLOSE, serverData, serverEnvelope, type ClientData, type ClientType, type ServerData, type ServerType } from "../../signaling/protocol.js";

export type Transport = "ws" | "poll";
export type Fatal = "replaced" | "removed" | "not-found" | "full" | "ended" | "expired" | "invalid" | "forbidden";

export interface Frame<T extends ServerType = ServerType> {
  type: T;
  from: string;
  data: ServerData<T>;
  seq: number;
}

export type LinkState = "connecting" | "open" | "reconnecting" | "closed";

export interface SignalingEvents {
  frame(f: Frame): void;
  state(s: LinkState, info: { transport: Transport; attempt: number; nextRetryMs?: number }): void;
  fatal(reason: Fatal, detail: string): void;
}

/** Named limits of the client side of the protocol. */
const PING_EVERY_MS = 10_000;
/** No frame (not even a pong) for this long: the socket is dead even if the browser has not noticed. */
const SILENCE_MS = 22_000;
const CONNECT_TIMEOUT_MS = 6_000;
const BACKOFF_MS = [300, 1_000, 2_000, 4_000, 8_000, 15_000];
/** This many drops in DROP_WINDOW_MS means this network breaks WebSockets: switch to long-poll. */
const DROPS_BEFORE_POLL = 3;
const DROP_WINDOW_MS = 60_000;
const FAILED_OPENS_BEFORE_POLL = 2;
const POLL_WAIT_S = 25;
const OUTBOX_LIMIT = 500;

const CLOSE_FATAL: Record<number, Fatal> = {
  [CLOSE.replaced]: "replaced",
  [CLOSE.forbidden]: "forbidden",
  [CLOSE.roomNotFound]: "not-found",
  [CLOSE.roomFull]: "full",
  [CLOSE.roomEnded]: "ended",
  [CLOSE.badToken]: "expired",
};

const PROBLEM_FATAL: Record<string, Fatal> = {
  token_expired: "expired",
  invalid_token: "invalid",
  missing_token: "invalid",
  token_not_active: "invalid",
  token_room_mismatch: "invalid",
  token_session_mismatch: "invalid",
  room_ended: "ended",
  room_full: "full",
  room_not_found: "not-found",
  participant_removed: "removed",
  forbidden: "forbidden",
};

type Outgoing = { type: string; to?: string; data?: unknown; id?: string };

export class SignalingClient {
  transport: Transport;
  /** Highest seq handled: sent as `resume` / `after` so nothing is lost or handled twice. */
  lastSeq = 0;
  reconnections = 0;
  state: LinkState = "connecting";

  private ws?: WebSocket;
  private wsOpened = false;
  private failedOpens = 0;
  private drops: number[] = [];
  private attempt = 0;
  private lastHeard = 0;
  private timers = new Set<ReturnType<typeof setTimeout>>();
  private pingTimer?: ReturnType<typeof setInterval>;
  private closed = false;
  private outbox: Outgoing[] = [];
  private pollAbort?: AbortController;
  private pollJoined = false;
  private sendQueue: Outgoing[] = [];
  private sendScheduled = false;
  private msgId = 0;

  constructor(
    private readonly origin: string,
    private readonly token: string,
    private readonly on: SignalingEvents,
    opts: { transport?: Transport } = {},
  ) {
    this.transport = opts.transport ?? "ws";
    addEventListener("online", this.onOnline);
  }

  start(): void {
    this.connect();
  }

  send<T extends ClientType>(type: T, data: ClientData<T> | Record<string, unknown>, to?: string): void {
    const msg: Outgoing = { type, data, ...(to ? { to } : {}), id: String(++this.msgId) };
    if (this.closed) return;
    if (this.transport === "ws") {
      if (this.ws?.readyState === WebSocket.OPEN && this.wsOpened) this.ws.send(JSON.stringify(msg));
      else this.queue(msg);
    } else {
      this.sendQueue.push(msg);
      if (!this.sendScheduled) {
        // Batch what one task produced (a burst of ICE candidates) into one POST.
        this.sendScheduled = true;
        queueMicrotask(() => void this.flushPoll());
      }
    }
  }

  /** Leaves the room (tells the server) and stops everything. */
  leave(): void {
    if (this.closed) return;
    if (this.transport === "ws" && this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: "leave", data: {} }));
    if (this.transport === "poll") void this.fetchJson("/api/signal/leave", { method: "POST", keepalive: true }).catch(() => undefined);
    this.stop();
  }

  /** Stops without telling the server (fatal states: the server already knows). */
  stop(): void {
    this.closed = true;
    this.setState("closed");
    removeEventListener("online", this.onOnline);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    clearInterval(this.pingTimer);
    this.pollAbort?.abort();
    if (this.ws) {
      this.detach(this.ws);
      try {
        this.ws.close(1000, "leave");
      } catch {
        /* already closed */
      }
    }
  }

  /** Test hook and support: drop the current connection as a network would. */
  simulateDrop(): void {
    if (this.transport === "ws" && this.ws) this.ws.close(4999, "simulated drop");
  }

  // ---------------------------------------------------------------- internals

  private connect(): void {
    if (this.closed) return;
    this.setState(this.reconnections || this.attempt ? "reconnecting" : "connecting");
    if (this.transport === "ws") this.openSocket();
    else void this.pollLoop();
  }

  private openSocket(): void {
    const url = `${this.origin.replace(/^http/, "ws")}/ws?token=${encodeURIComponent(this.token)}${this.lastSeq > 0 ? `&resume=${this.lastSeq}` : ""}`;
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch {
      this.onSocketGone(false);
      return;
    }
    this.ws = ws;
    this.wsOpened = false;
    const connectTimer = this.later(() => {
      if (!this.wsOpened && this.ws === ws) {
        this.detach(ws);
        ws.close();
        this.onSocketGone(false);
      }
    }, CONNECT_TIMEOUT_MS);
    ws.onopen = () => {
      clearTimeout(connectTimer);
      this.wsOpened = true;
      this.failedOpens = 0;
      this.lastHeard = Date.now();
      this.startPing();
      // A honoured resume sends no welcome, only the missed frames: being open is the signal.
      if (this.lastSeq > 0) {
        this.attempt = 0;
        this.setState("open");
      }
      const pending = this.outbox.splice(0);
      for (const m of pending) ws.send(JSON.stringify(m));
    };
    ws.onmessage = (ev) => {
      this.lastHeard = Date.now();
      if (typeof ev.data !== "string") return;
      let raw: unknown;
      try {
        raw = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.handleRaw(raw);
    };
    ws.onclose = (ev) => {
      clearTimeout(connectTimer);
      if (this.ws !== ws) return;
      const fatal = CLOSE_FATAL[ev.code];
      if (fatal) {
        this.fail(fatal, ev.reason || `closed with ${ev.code}`);
        return;
      }
      this.onSocketGone(this.wsOpened);
    };
    ws.onerror = () => undefined;
  }

  private detach(ws: WebSocket): void {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
  }

  private onSocketGone(wasOpen: boolean): void {
    clearInterval(this.pingTimer);
    if (this.closed) return;
    const now = Date.now();
    if (wasOpen) {
      this.drops = [...this.drops.filter((t) => now - t < DROP_WINDOW_MS), now];
      this.reconnections++;
    } else {
      this.failedOpens++;
    }
    // A network that cannot open or keep a WebSocket gets the long-poll transport instead.
    if (this.failedOpens >= FAILED_OPENS_BEFORE_POLL || this.drops.length >= DROPS_BEFORE_POLL) {
      this.transport = "poll";
      this.attempt = 0;
      // Mid-call, the first poll resumes from lastSeq (no new welcome, no churn for the others).
      this.pollJoined = this.lastSeq > 0;
      const pending = this.outbox.splice(0);
      this.sendQueue.push(...pending);
      this.connect();
      return;
    }
    this.retry(wasOpen ? 0 : undefined);
  }

  private retry(delayOverride?: number): void {
    const base = delayOverride ?? BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)]!;
    // Jitter so a room whose network blipped does not reconnect in lockstep.
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt++;
    this.setState("reconnecting", delay);
    this.later(() => this.connect(), delay);
  }

  private startPing(): void {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - this.lastHeard > SILENCE_MS) {
        // The browser can take minutes to notice a dead TCP connection; do not wait for it.
        this.detach(ws);
        ws.close();
        this.onSocketGone(true);
        return;
      }
      ws.send(JSON.stringify({ type: "ping", data: {} }));
    }, PING_EVERY_MS);
  }

  private readonly onOnline = () => {
    if (this.closed) return;
    if (this.transport === "ws") {
      const ws = this.ws;
      if (ws && ws.readyState === WebSocket.OPEN) {
        // The old socket may have died with the old network: ping now and give it a few seconds.
        ws.send(JSON.stringify({ type: "ping", data: {} }));
        const heardBefore = this.lastHeard;
        this.later(() => {
          if (this.ws === ws && this.lastHeard === heardBefore) {
            this.detach(ws);
            ws.close();
            this.onSocketGone(true);
          }
        }, 3_000);
      } else {
        for (const t of this.timers) clearTimeout(t);
        this.timers.clear();
        this.attempt = 0;
        this.connect();
      }
    } else {
      this.pollAbort?.abort();
    }
  };

  private queue(msg: Outgoing): void {
    this.outbox.push(msg);
    if (this.outbox.length > OUTBOX_LIMIT) this.outbox.splice(0, this.outbox.length - OUTBOX_LIMIT);
  }

  private handleRaw(raw: unknown): void {
    if (Array.isArray(raw)) {
      for (const r of raw) this.handleRaw(r);
      return;
    }
    const env = serverEnvelope.safeParse(raw);
    if (!env.success) return;
    const { type, from, seq } = env.data;
    const isStart = type === "welcome" || type === "waiting";
    // Replays can repeat what was already handled; a (re)start resets the sequence.
    if (!isStart && seq <= this.lastSeq) return;
    this.lastSeq = seq;
    if (!Object.hasOwn(serverData, type)) return;
    const schema = serverData[type as ServerType];
    const data = schema.safeParse(env.data.data ?? {});
    if (!data.success) {
      console.warn("parley: dropped an invalid", type, "frame", data.error.issues[0]);
      return;
    }
    if (isStart) {
      this.attempt = 0;
      this.setState("open");
    }
    this.on.frame({ type: type as ServerType, from, data: data.data as never, seq });
  }

  private fail(reason: Fatal, detail: string): void {
    this.stop();
    this.on.fatal(reason, detail);
  }

  private setState(s: LinkState, nextRetryMs?: number): void {
    this.state = s;
    this.on.state(s, { transport: this.transport, attempt: this.attempt, nextRetryMs });
  }

  private later(fn: () => void, ms: number): ReturnType<typeof setTimeout> {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  // ---------------------------------------------------------------- long-poll

  private async fetchJson(path: string, init: RequestInit & { signal?: AbortSignal } = {}): Promise<unknown> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${this.token}`);
    if (init.body) headers.set("content-type", "application/json");
    const res = await fetch(this.origin + path, { ...init, headers, cache: "no-store" });
    const text = await res.text();
    const body: unknown = text ? JSON.parse(text) : null;
    if (!res.ok) throw new ProblemError(res.status, (body as { code?: string })?.code ?? `http_${res.status}`, (body as { detail?: string })?.detail ?? res.statusText);
    return body;
  }

  private async pollLoop(): Promise<void> {
    while (!this.closed && this.transport === "poll") {
      try {
        if (!this.pollJoined) {
          const joined = await this.fetchJson("/api/signal/join", { method: "POST", body: "{}" });
          this.pollJoined = true;
          this.handleJoinPayload(joined);
          this.attempt = 0;
          void this.flushPoll();
          continue;
        }
        this.pollAbort = new AbortController();
        const timeout = setTimeout(() => this.pollAbort?.abort(), (POLL_WAIT_S + 15) * 1000);
        // Until a poll has come back we do not know we are connected: ask without holding first.
        const wait = this.state === "open" ? POLL_WAIT_S : 0;
        const res = (await this.fetchJson(`/api/signal/messages?after=${this.lastSeq}&wait=${wait}`, { signal: this.pollAbort.signal }).finally(() =>
          clearTimeout(timeout),
        )) as { messages?: unknown[]; next?: number };
        if (this.state !== "open") this.setState("open");
        this.attempt = 0;
        for (const m of res.messages ?? []) this.handleRaw(m);
      } catch (err) {
        if (this.closed) return;
        console.warn("parley: long-poll failed:", err instanceof Error ? err.message : err);
        if (err instanceof ProblemError) {
          const fatal = PROBLEM_FATAL[err.code];
          if (fatal) return this.fail(fatal, err.detail);
          // Treated as gone after a long silence (laptop lid): join again, resuming from lastSeq.
          if (err.status === 404 || err.status === 409 || err.code === "not_joined") this.pollJoined = false;
        }
        if (this.state === "open") this.reconnections++;
        const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)]!;
        this.attempt++;
        this.setState("reconnecting", delay);
        await new Promise((r) => this.later(() => r(undefined), delay));
      }
    }
  }

  /** `POST /api/signal/join` answers the welcome (or waiting) frame; accept it bare or enveloped. */
  private handleJoinPayload(p: unknown): void {
    const o = p as Record<string, unknown> | null;
    if (!o || typeof o !== "object") return;
    if (Array.isArray(o.messages)) return this.handleRaw(o.messages);
    if (typeof o.type === "string" && "data" in o) return this.handleRaw({ from: "server", ts: new Date().toISOString(), seq: 0, ...o });
    const type = "peers" in o ? "welcome" : "waiting";
    this.handleRaw({ type, from: "server", data: o, seq: typeof o.seq === "number" ? o.seq : this.lastSeq, ts: new Date().toISOString() });
  }

  private async flushPoll(): Promise<void> {
    this.sendScheduled = false;
    if (!this.pollJoined || this.sendQueue.length === 0) return;
    const batch = this.sendQueue.splice(0);
    try {
      await this.fetchJson("/api/signal/messages", { method: "POST", body: JSON.stringify(batch) });
    } catch (err) {
      if (err instanceof ProblemError && err.status < 500 && err.status !== 404 && err.status !== 409) return;
      // Network trouble: put the batch back in front and try with the next poll round.
      this.sendQueue.unshift(...batch);
      this.later(() => void this.flushPoll(), 1_000);
    }
  }
}

class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/**
 * Can this network open a WebSocket to us? Used by the pre-join check, and
 * to start on long-poll straight away when the answer is no.
 */
export function probeWebSocket(origin: string, timeoutMs = 4_000): Promise<boolean> {
  return new Promise((resolve) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(`${origin.replace(/^http/, "ws")}/ws-probe`);
    } catch {
      resolve(false);
      return;
    }
    const t = setTimeout(() => {
      ws.close();
      resolve(false);
    }, timeoutMs);
    ws.onmessage = () => {
      clearTimeout(t);
      resolve(true);
      ws.close();
    };
    ws.onclose = () => {
      clearTimeout(t);
      resolve(false);
    };
  });
}
