import WebSocket from "ws";
import type { TestServer } from "./server.js";

export interface Frame {
  seq: number;
  type: string;
  from: string;
  ts: string;
  data: any;
}

/** A signaling WebSocket client for tests: collects frames and lets a test wait for one. */
export class Peer {
  readonly frames: Frame[] = [];
  private taken = new Set<number>();
  private listeners: (() => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  closeInfo: { code: number; reason: string } | undefined;

  constructor(readonly ws: WebSocket) {
    ws.on("message", (d) => {
      this.frames.push(JSON.parse(String(d)));
      for (const l of [...this.listeners]) l();
    });
    this.closed = new Promise((resolve) =>
      ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: String(reason) };
        resolve(this.closeInfo);
        for (const l of [...this.listeners]) l();
      }),
    );
    ws.on("error", () => {});
  }

  static async open(s: TestServer, token: string, query: Record<string, string | number> = {}): Promise<Peer> {
    const qs = new URLSearchParams({ token, ...Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)])) });
    const p = new Peer(new WebSocket(`${s.wsUrl}/ws?${qs}`));
    await new Promise<void>((resolve, reject) => {
      p.ws.once("open", () => resolve());
      p.ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      p.ws.once("error", reject);
    });
    return p;
  }

  /** Opens and waits for the first frame (welcome or waiting). */
  static async join(s: TestServer, token: string, query: Record<string, string | number> = {}): Promise<Peer> {
    const p = await Peer.open(s, token, query);
    await p.next((f) => f.type === "welcome" || f.type === "waiting");
    return p;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  get lastSeq(): number {
    return this.frames.length ? this.frames[this.frames.length - 1]!.seq : 0;
  }

  /** The first frame not yet taken that matches; waits for it. */
  next(match: string | ((f: Frame) => boolean), timeoutMs = 5000): Promise<Frame> {
    const pred = typeof match === "string" ? (f: Frame) => f.type === match : match;
    return new Promise((resolve, reject) => {
      const check = () => {
        for (let i = 0; i < this.frames.length; i++) {
          if (!this.taken.has(i) && pred(this.frames[i]!)) {
            this.taken.add(i);
            done();
            resolve(this.frames[i]!);
            return true;
          }
        }
        if (this.closeInfo) {
          done();
          reject(new Error(`closed ${this.closeInfo.code} ${this.closeInfo.reason} while waiting; got ${this.frames.map((f) => f.type).join(",")}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timeout waiting for a frame; got ${this.frames.map((f) => f.type).join(",")}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== listener);
      };
      const listener = () => void check();
      this.listeners.push(listener);
      check();
    });
  }

  /** Frames of these types received so far (taken or not). */
  all(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
  }
}

/** Waits for the socket to close and returns the code and reason (also for refused tokens). */
export async function closeOf(s: TestServer, token: string, query: Record<string, string | number> = {}): Promise<{ code: number; reason: string }> {
  const p = await Peer.open(s, token, query);
  return p.closed;
}

/** A long-poll client. */
export class Poller {
  next = 0;
  constructor(
    readonly s: TestServer,
    readonly token: string,
  ) {}

  private req(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(this.s.url + path, { ...init, headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json", ...(init.headers ?? {}) } });
  }

  async join(): Promise<any> {
    const res = await this.req("/api/signal/join", { method: "POST" });
    if (res.status !== 200) throw new Error(`join ${res.status} ${await res.text()}`);
    const body = await res.json();
    this.next = body.next;
    return body;
  }

  async poll(wait = 0, after: number | undefined = this.next): Promise<{ messages: Frame[]; next: number }> {
    const q = new URLSearchParams({ wait: String(wait), ...(after === undefined ? {} : { after: String(after) }) });
    const res = await this.req(`/api/signal/messages?${q}`);
    if (res.status !== 200) throw new Error(`poll ${res.status} ${await res.text()}`);
    const body = await res.json();
    this.next = body.next;
    return body;
  }

  /** Polls until a frame matches (collecting everything on the way into `seen`). */
  async until(pred: (f: Frame) => boolean, seen: Frame[] = [], timeoutMs = 5000): Promise<Frame> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const { messages } = await this.poll(1);
      seen.push(...messages);
      const hit = messages.find(pred);
      if (hit) return hit;
    }
    throw new Error(`poll: no matching frame; saw ${seen.map((f) => f.type).join(",")}`);
  }

  post(body: unknown): Promise<Response> {
    return this.req("/api/signal/messages", { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body) });
  }

  leave(): Promise<Response> {
    return this.req("/api/signal/leave", { method: "POST" });
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
