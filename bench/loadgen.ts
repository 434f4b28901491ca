/**
 * Load generator of the signaling benchmark. Runs in its own process (pinned
 * to the core the servers do not use) and is driven by bench/signaling.ts
 * over IPC, so the same code, with the same costs, loads the raw `ws` relay
 * and Parley.
 *
 * Every message is an offer-like 1 KB frame to another peer of the sender's
 * room. Its SDP starts with `@@<send time>@@`: sender and receiver both live
 * in this process, so `performance.now()` at receipt minus the stamp is the
 * relay latency (plus this process's own event-loop delay, which is the
 * same for both servers). Receipt is detected by scanning the raw frame for
 * the marker — no JSON parse of relayed frames — which keeps the load
 * generator cheaper per message than any relay it drives.
 *
 *  - saturate: a fixed number of messages in flight; each delivery makes
 *    its recipient send the next one to a random roommate (so load spreads
 *    over all peers). Throughput = deliveries per second.
 *  - fixedRate: open loop, N messages per second from peers in turn, to
 *    random roommates; latency percentiles of the messages sent in the
 *    measured window.
 */
import { createSecretKey } from "node:crypto";
import http from "node:http";
import { performance } from "node:perf_hooks";
import jwt from "jsonwebtoken";
import WebSocket from "ws";
import { announceReady, serveRequests } from "./ipc.js";

// ------------------------------------------------------------------ payload

const MARK = "@@";
const MARK_BUF = Buffer.from(MARK);
/** Client frame size aimed at (bytes on the wire, before WebSocket framing). */
const FRAME_BYTES = 1024;

const SDP_TEMPLATE = [
  "v=0",
  "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "a=group:BUNDLE 0 1",
  "a=extmap-allow-mixed",
  "a=msid-semantic: WMS 3d8f7b2c-5a1e-4c1b-9f0e-7a2b6c4d8e10",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
  "c=IN IP4 0.0.0.0",
  "a=rtcp:9 IN IP4 0.0.0.0",
  "a=ice-ufrag:Xk7b",
  "a=ice-pwd:q2ZmV9s8Lr0nYw3uT5pK1hGd",
  "a=ice-options:trickle",
  "a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
  "a=setup:actpass",
  "a=mid:0",
  "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
  "a=sendrecv",
  "a=rtcp-mux",
  "a=rtpmap:111 opus/48000/2",
  "a=fmtp:111 minptime=10;useinbandfec=1",
  "a=rtpmap:63 red/48000/2",
  "a=ssrc:1001154325 cname:8Jd2kLq0pZrT4vWx",
  "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101",
  "a=rtpmap:96 VP8/90000",
  "a=rtcp-fb:96 goog-remb",
  "a=rtcp-fb:96 transport-cc",
  "a=rtcp-fb:96 ccm fir",
  "a=rtcp-fb:96 nack",
  "a=rtcp-fb:96 nack pli",
  "a=rtpmap:97 rtx/90000",
  "a=fmtp:97 apt=96",
  "",
].join("\r\n");

/** Offer frame for one recipient: head + stamp + tail (the JSON around the stamp is built once). */
interface FrameParts {
  head: string;
  tail: string;
}

function frameParts(kind: "raw" | "parley", to: string): FrameParts {
  const head = kind === "raw" ? `{"to":${JSON.stringify(to)},"data":{"type":"offer","sdp":"${MARK}` : `{"type":"offer","to":${JSON.stringify(to)},"data":{"type":"offer","sdp":"${MARK}`;
  const stampLen = String(performance.now().toFixed(3)).length + 2;
  // Pad the SDP so the whole frame is FRAME_BYTES; cut the raw text (not its JSON form) so no escape is split.
  let sdp = SDP_TEMPLATE;
  while (sdp.length < FRAME_BYTES * 2) sdp += SDP_TEMPLATE;
  let lo = 0;
  let hi = sdp.length;
  const size = (n: number) => head.length + stampLen + JSON.stringify(sdp.slice(0, n)).length - 1 + 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (size(mid) <= FRAME_BYTES) lo = mid;
    else hi = mid - 1;
  }
  const escaped = JSON.stringify(sdp.slice(0, lo)).slice(1, -1);
  return { head, tail: `${MARK}${escaped}"}}` };
}


/** Calls `each(sendTime)` for every stamped offer in a frame or body (a server may batch several). */
function scanStamps(buf: Buffer, each: (sentAt: number) => void): number {
  let found = 0;
  let i = buf.indexOf(MARK_BUF);
  while (i >= 0) {
    const j = buf.indexOf(MARK_BUF, i + 2);
    if (j < 0) break;
    each(Number(buf.toString("latin1", i + 2, j)));
    found++;
    i = buf.indexOf(MARK_BUF, j + 2);
  }
  return found;
}

// ------------------------------------------------------------------ peers and targets

interface Driver {
  deliver(peer: Peer, sentAt: number): void;
  error(peer: Peer, code: string): void;
}

interface Peer {
  readonly id: string;
  readonly index: number;
  room: Peer[];
  /** Frame parts of an offer *to* this peer. */
  parts: FrameParts;
  /** Sends an offer to `to` stamped with `sentAt` (performance.now()). */
  send(to: Peer, sentAt: number): void;
  close(): void;
}

class Target {
  peers: Peer[] = [];
  driver: Driver | null = null;
  /** Control frames by type (welcome, peer-joined, error:<code> …) and unexpected closes. */
  counts: Record<string, number> = {};
  constructor(
    readonly name: string,
    readonly kind: "raw" | "parley" | "poll",
  ) {}
  count(key: string, n = 1): void {
    this.counts[key] = (this.counts[key] ?? 0) + n;
  }
  deliver(peer: Peer, sentAt: number): void {
    this.driver?.deliver(peer, sentAt);
  }
  error(peer: Peer, code: string): void {
    this.count(`error:${code}`);
    this.driver?.error(peer, code);
  }
}

const targets = new Map<string, Target>();
/** Counts of targets already disconnected (reported at the end of the run). */
const finishedCounts = new Map<string, Record<string, number>>();

class WsPeer implements Peer {
  room: Peer[] = [];
  parts: FrameParts;
  ws!: WebSocket;
  constructor(
    readonly target: Target,
    readonly id: string,
    readonly index: number,
  ) {
    this.parts = frameParts(target.kind === "raw" ? "raw" : "parley", id);
  }

  /** Resolves once the relay accepted the socket (raw: open; Parley: the first frame, `welcome`). */
  connect(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      this.ws = ws;
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve();
      };
      ws.on("open", () => {
        if (this.target.kind === "raw") settle();
      });
      ws.on("message", (data: Buffer) => {
        if (scanStamps(data, (t) => this.target.deliver(this, t)) > 0) return;
        this.control(data);
        settle();
      });
      ws.on("error", (err) => settle(err));
      ws.on("close", (code) => {
        if (!settled) settle(new Error(`closed with ${code} before welcome`));
        else if (code !== 1000 && code !== 1005) this.target.count(`close:${code}`);
      });
    });
  }

  private control(data: Buffer): void {
    let msg: unknown;
    try {
      msg = JSON.parse(String(data));
    } catch {
      this.target.count("unparsable");
      return;
    }
    for (const m of Array.isArray(msg) ? msg : [msg]) {
      const { type, data: d } = (m ?? {}) as { type?: string; data?: { code?: string } };
      if (type === "error") this.target.error(this, String(d?.code));
      else this.target.count(String(type));
    }
  }

  send(to: Peer, sentAt: number): void {
    this.ws.send(to.parts.head + sentAt.toFixed(3) + to.parts.tail);
  }

  close(): void {
    this.ws.close(1000);
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024 });

function request(url: URL, method: string, token: string, body?: string, signal?: AbortSignal): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { authorization: `Bearer ${token}` };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = Buffer.byteLength(body);
    }
    const req = http.request(url, { method, agent, headers, signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A long-poll peer: one GET held open at a time, sends batched into one POST per turn of the loop. */
class PollPeer implements Peer {
  room: Peer[] = [];
  parts: FrameParts;
  private after = 0;
  private outbox: string[] = [];
  private posting = false;
  private flushQueued = false;
  private stopped = false;
  private abort = new AbortController();
  constructor(
    readonly target: Target,
    readonly id: string,
    readonly index: number,
    readonly base: string,
    readonly token: string,
  ) {
    this.parts = frameParts("parley", id);
  }

  async join(): Promise<void> {
    const res = await request(new URL("/api/signal/join", this.base), "POST", this.token, "{}");
    if (res.status !== 200 && res.status !== 201) throw new Error(`join: ${res.status} ${String(res.body).slice(0, 200)}`);
    const welcome = JSON.parse(String(res.body)) as { next?: number };
    if (typeof welcome.next === "number") this.after = welcome.next;
    void this.pollLoop();
  }

  private async pollLoop(): Promise<void> {
    while (!this.stopped) {
      let res;
      try {
        res = await request(new URL(`/api/signal/messages?after=${this.after}&wait=20`, this.base), "GET", this.token, undefined, this.abort.signal);
      } catch {
        if (this.stopped) return;
        this.target.count("poll-failed");
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (res.status !== 200) {
        this.target.count(`poll:${res.status}`);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const body = JSON.parse(String(res.body)) as { messages: { type: string; data?: { sdp?: string; code?: string } }[]; next: number };
      for (const m of body.messages) {
        const sdp = m.data?.sdp;
        if (typeof sdp === "string" && sdp.startsWith(MARK)) this.target.deliver(this, Number(sdp.slice(2, sdp.indexOf(MARK, 2))));
        else if (m.type === "error") this.target.error(this, String(m.data?.code));
        else this.target.count(m.type);
      }
      if (typeof body.next === "number") this.after = body.next;
    }
  }

  send(to: Peer, sentAt: number): void {
    this.outbox.push(to.parts.head + sentAt.toFixed(3) + to.parts.tail);
    if (!this.posting && !this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => void this.flush());
    }
  }

  private async flush(): Promise<void> {
    this.flushQueued = false;
    if (this.posting || this.outbox.length === 0 || this.stopped) return;
    const batch = this.outbox;
    this.outbox = [];
    this.posting = true;
    try {
      const res = await request(new URL("/api/signal/messages", this.base), "POST", this.token, batch.length === 1 ? batch[0] : `[${batch.join(",")}]`);
      if (res.status !== 202 && res.status !== 200) {
        const code = res.status === 429 ? "rate_limited" : `http_${res.status}`;
        for (let i = 0; i < batch.length; i++) this.target.error(this, code);
      } else {
        // Envelopes refused (rate limit, validation) are counted here; their error frames, if any, come by poll.
        const accepted = (JSON.parse(String(res.body)) as { accepted?: number }).accepted ?? batch.length;
        for (let i = accepted; i < batch.length; i++) this.target.error(this, "not_accepted");
      }
    } catch {
      for (let i = 0; i < batch.length; i++) this.target.error(this, "post_failed");
    }
    this.posting = false;
    if (this.outbox.length) void this.flush();
  }

  close(): void {
    this.stopped = true;
    this.abort.abort();
    void request(new URL("/api/signal/leave", this.base), "POST", this.token, "{}").catch(() => undefined);
  }
}

// ------------------------------------------------------------------ setup commands

interface RoomSpec {
  peers: { id: string; token?: string }[];
}

/**
 * Rooms through `POST /api/rooms` with the API key; participant tokens are
 * minted here with the server's secret, as another app would (API.md: tokens
 * minted elsewhere with the same secret work unchanged), so setting up 2,000
 * peers does not cost the server 2,000 signatures before anything is measured.
 */
async function createParleyRooms(arg: { url: string; apiKey: string; jwtSecret: string; rooms: number; peersPerRoom: number; prefix: string }): Promise<RoomSpec[]> {
  const key = createSecretKey(Buffer.from(arg.jwtSecret, "utf8"));
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const out: RoomSpec[] = new Array(arg.rooms);
  let next = 0;
  const worker = async () => {
    for (let r = next++; r < arg.rooms; r = next++) {
      const roomId = `${arg.prefix}${r}`;
      const res = await fetch(`${arg.url}/api/rooms`, {
        method: "POST",
        headers: { authorization: `Bearer ${arg.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ roomId, title: `bench ${r}` }),
      });
      if (res.status !== 201) throw new Error(`create room ${r}: ${res.status} ${await res.text()}`);
      const { sessionId } = (await res.json()) as { sessionId: string };
      out[r] = {
        peers: Array.from({ length: arg.peersPerRoom }, (_, i) => {
          const id = `${roomId}-p${i}`;
          const claims = { sub: id, roomId, sessionId, role: i === 0 ? "host" : "participant", name: `Peer ${i}`, exp };
          return { id, token: jwt.sign(claims, key, { algorithm: "HS256" }) };
        }),
      };
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return out;
}

function rawRooms(rooms: number, peersPerRoom: number, prefix: string): RoomSpec[] {
  return Array.from({ length: rooms }, (_, r) => ({ peers: Array.from({ length: peersPerRoom }, (_, i) => ({ id: `${prefix}${r}-p${i}` })) }));
}

/** Runs `fn` over `items` with at most `limit` at a time; returns how many failed and the first errors. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<{ failed: number; errors: string[] }> {
  let next = 0;
  let failed = 0;
  const errors: string[] = [];
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) {
      try {
        await fn(items[i]!);
      } catch (err) {
        failed++;
        if (errors.length < 3) errors.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return { failed, errors };
}

interface ConnectArg {
  name: string;
  kind: "raw" | "parley" | "poll";
  url: string;
  /** Parley: API key to create the rooms with, and the secret to mint participant tokens with. */
  apiKey?: string;
  jwtSecret?: string;
  rooms: number;
  peersPerRoom: number;
}

const pendingStarts = new Map<string, { peer: Peer; start(): Promise<void> }[]>();

/** Creates the rooms (Parley: through the REST API) and the peers, without connecting them yet. */
async function prepare(arg: ConnectArg) {
  const t0 = performance.now();
  const target = new Target(arg.name, arg.kind);
  targets.set(arg.name, target);
  const prefix = `${arg.name}-r`;
  const specs = arg.kind === "raw" ? rawRooms(arg.rooms, arg.peersPerRoom, prefix) : await createParleyRooms({ url: arg.url, apiKey: arg.apiKey!, jwtSecret: arg.jwtSecret!, rooms: arg.rooms, peersPerRoom: arg.peersPerRoom, prefix });
  const wsBase = arg.url.replace(/^http/, "ws");
  const jobs: { peer: Peer; start(): Promise<void> }[] = [];
  for (const spec of specs) {
    const room: Peer[] = [];
    for (const p of spec.peers) {
      const index = target.peers.length + room.length;
      if (arg.kind === "poll") {
        const peer = new PollPeer(target, p.id, index, arg.url, p.token!);
        jobs.push({ peer, start: () => peer.join() });
        room.push(peer);
      } else {
        const peer = new WsPeer(target, p.id, index);
        const url = arg.kind === "raw" ? `${wsBase}/?id=${encodeURIComponent(p.id)}` : `${wsBase}/ws?token=${encodeURIComponent(p.token!)}`;
        jobs.push({ peer, start: () => peer.connect(url) });
        room.push(peer);
      }
    }
    for (const peer of room) {
      peer.room = room;
      target.peers.push(peer);
    }
  }
  pendingStarts.set(arg.name, jobs);
  return { peers: jobs.length, roomsMs: Math.round(performance.now() - t0) };
}

/** Connects (WebSocket) or joins (long-poll) every peer prepared for `name`. */
async function open(arg: { name: string }) {
  const jobs = pendingStarts.get(arg.name) ?? [];
  pendingStarts.delete(arg.name);
  const t1 = performance.now();
  const { failed, errors } = await pool(jobs, 32, (j) => j.start());
  const connectMs = performance.now() - t1;
  if (failed) throw new Error(`${arg.name}: ${failed} of ${jobs.length} peers could not connect: ${errors.join("; ")}`);
  // Let joins settle (peer-joined fan-out) before anything is measured.
  await sleep(500);
  return { peers: jobs.length, connectMs: Math.round(connectMs) };
}

async function disconnect(arg: { name: string }) {
  const target = targets.get(arg.name);
  if (!target) return;
  for (const p of target.peers) p.close();
  targets.delete(arg.name);
  finishedCounts.set(arg.name, target.counts);
  await sleep(300);
}

// ------------------------------------------------------------------ workloads

/** How long a phase waits for messages still in flight after it ended. */
const DRAIN_MS = 10_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function roommate(p: Peer): Peer {
  const room = p.room;
  const i = Math.floor(Math.random() * (room.length - 1));
  const q = room[i]!;
  return q === p ? room[room.length - 1]! : q;
}

function percentiles(samples: number[]): { p50: number; p90: number; p99: number; max: number } {
  if (!samples.length) return { p50: NaN, p90: NaN, p99: NaN, max: NaN };
  const s = Float64Array.from(samples).sort();
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1]! };
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!cond() && performance.now() < end) await sleep(10);
}

interface SaturateArg {
  name: string;
  inFlight: number;
  warmupMs: number;
  durationMs: number;
}

async function saturate(arg: SaturateArg) {
  const target = targets.get(arg.name)!;
  const peers = target.peers;
  let running = true;
  let measuring = false;
  let delivered = 0;
  let total = 0;
  let outstanding = 0;
  let errors = 0;
  const lat: number[] = [];
  const fire = (from: Peer) => {
    outstanding++;
    from.send(roommate(from), performance.now());
  };
  target.driver = {
    deliver(peer, sentAt) {
      outstanding--;
      total++;
      if (measuring) {
        delivered++;
        if ((delivered & 7) === 0) lat.push(performance.now() - sentAt);
      }
      if (running) fire(peer);
    },
    error() {
      outstanding--;
      if (measuring) errors++;
      if (running) fire(peers[Math.floor(Math.random() * peers.length)]!);
    },
  };
  for (let i = 0; i < arg.inFlight; i++) fire(peers[i % peers.length]!);
  await sleep(arg.warmupMs);
  measuring = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(arg.durationMs);
  measuring = false;
  const elapsed = performance.now() - t0;
  const loadgenCpu = cpuMs(cpu0) / elapsed;
  running = false;
  await waitFor(() => outstanding <= 0, DRAIN_MS);
  target.driver = null;
  return { msgPerSec: (delivered * 1000) / elapsed, delivered, total, errors, lost: outstanding, ...percentiles(lat), loadgenCpu, elapsedMs: elapsed };
}

interface FixedRateArg {
  name: string;
  rate: number;
  warmupMs: number;
  durationMs: number;
}

async function fixedRate(arg: FixedRateArg) {
  const target = targets.get(arg.name)!;
  const peers = target.peers;
  const lat: number[] = [];
  let outstanding = 0;
  let errors = 0;
  let sent = 0;
  let measuredSent = 0;
  let maxBurst = 0;
  let overloaded = false;
  /** Open loop, but bounded: a server more than this many messages behind stops the phase (the rest would only be queueing). */
  const backlogLimit = Math.max(1000, arg.rate * 2);
  const start = performance.now();
  const mStart = start + arg.warmupMs;
  const mEnd = mStart + arg.durationMs;
  target.driver = {
    deliver(_peer, sentAt) {
      outstanding--;
      if (sentAt >= mStart && sentAt < mEnd) lat.push(performance.now() - sentAt);
    },
    error() {
      outstanding--;
      errors++;
    },
  };
  let rr = 0;
  let cpu0: NodeJS.CpuUsage | undefined;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (now >= mEnd || outstanding > backlogLimit) {
        overloaded = outstanding > backlogLimit;
        clearInterval(timer);
        resolve();
        return;
      }
      if (!cpu0 && now >= mStart) cpu0 = process.cpuUsage();
      const due = Math.floor(((now - start) * arg.rate) / 1000) - sent;
      if (due > maxBurst) maxBurst = due;
      for (let i = 0; i < due; i++) {
        const from = peers[rr++ % peers.length]!;
        const at = performance.now();
        outstanding++;
        sent++;
        if (at >= mStart && at < mEnd) measuredSent++;
        from.send(roommate(from), at);
      }
    }, 1);
  });
  const loadgenCpu = cpu0 ? cpuMs(cpu0) / Math.max(1, performance.now() - mStart) : NaN;
  await waitFor(() => outstanding <= 0, DRAIN_MS);
  target.driver = null;
  return { rate: arg.rate, sent: measuredSent, received: lat.length, errors, lost: outstanding, ...percentiles(lat), maxBurst, loadgenCpu, overloaded };
}

function counts(arg: { name: string }) {
  return targets.get(arg.name)?.counts ?? finishedCounts.get(arg.name) ?? {};
}

serveRequests({
  prepare,
  open,
  disconnect,
  saturate,
  fixedRate,
  counts,
  async exit() {
    for (const name of [...targets.keys()]) await disconnect({ name });
    agent.destroy();
  },
});
announceReady({ pid: process.pid });
