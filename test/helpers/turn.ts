import { spawn } from "node:child_process";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { createRoom, startTestServer, type TestServer } from "./server.js";

/** A UDP port nobody is bound to right now (the OS picks it). */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "0.0.0.0", r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A random relay range away from the kernel's ephemeral ports, so parallel suites do not collide. */
export function randomRelayRange(size = 200): { min: number; max: number; env: string } {
  const min = 12000 + Math.floor(Math.random() * 18000);
  return { min, max: min + size - 1, env: `${min}-${min + size - 1}` };
}

export interface TurnTestServer extends TestServer {
  turnPort: number;
  relayPorts: { min: number; max: number };
}

/** The real server with the embedded relay on a free UDP port. */
export async function startTurnServer(env: Record<string, string> = {}): Promise<TurnTestServer> {
  const turnPort = await freeUdpPort();
  const range = randomRelayRange();
  const s = await startTestServer({ PARLEY_TURN: "embedded", PARLEY_TURN_PORT: String(turnPort), PARLEY_TURN_RELAY_PORTS: range.env, ...env });
  return Object.assign(s, { turnPort, relayPorts: { min: range.min, max: range.max } });
}

export interface TurnCredentialBody {
  username: string;
  password: string;
  ttl: number;
  uris: string[];
}

/** A room with one participant; returns the participant's token and id. */
export async function participantOf(s: TestServer, body: Record<string, unknown> = {}) {
  const room = await createRoom(s, { participants: [{ name: "Ada", role: "participant" }], ...body });
  const p = room.participants[0]!;
  return { roomId: room.roomId, sessionId: room.sessionId, participantId: p.id, token: p.token };
}

export async function fetchCredentials(s: TestServer, token: string): Promise<Response> {
  return fetch(s.url + "/api/turn/credentials", { headers: { authorization: `Bearer ${token}` } });
}

export interface UclientResult {
  code: number | null;
  output: string;
  sent: number;
  received: number;
  lostPackets: number;
  lossPercent: number;
  /** Allocation, permission or channel errors reported by the client. */
  errors: string[];
}

/**
 * Runs coturn's `turnutils_uclient` and reads its summary: messages sent and
 * received, and "Total lost packets N (x%)".
 */
export function runUclient(args: string[], timeoutMs = 60_000): Promise<UclientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("turnutils_uclient", args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve(parseUclient(output, code));
    });
  });
}

export function parseUclient(output: string, code: number | null): UclientResult {
  const totals = [...output.matchAll(/tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/g)].pop();
  const lost = /Total lost packets (\d+) \(([\d.]+)%\)/.exec(output);
  const errors = output
    .split("\n")
    .filter((l) => /error|ERROR|Cannot|cannot|Wrong/.test(l))
    .map((l) => l.trim());
  return {
    code,
    output,
    sent: totals ? Number(totals[1]) : 0,
    received: totals ? Number(totals[2]) : 0,
    lostPackets: lost ? Number(lost[1]) : -1,
    lossPercent: lost ? Number(lost[2]) : 100,
    errors,
  };
}

/** Starts `turnutils_peer` (a UDP echo peer) on loopback; returns a stop function. */
export async function startEchoPeer(port: number): Promise<() => Promise<void>> {
  const child = spawn("turnutils_peer", ["-p", String(port), "-L", "127.0.0.1"], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 300));
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
}

// ---------------------------------------------------------------------------
// A minimal STUN/TURN client for what turnutils_uclient cannot be told to do
// (ask for one permission and nothing else, send a crafted attribute).

const COOKIE = 0x2112a442;
export const ATTR = {
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  CHANNEL_NUMBER: 0x000c,
  LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012,
  DATA: 0x0013,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_TRANSPORT: 0x0019,
  SOFTWARE: 0x8022,
} as const;

export interface StunAnswer {
  type: number;
  attrs: Map<number, Buffer[]>;
  errorCode?: number;
}

function xorAddress(address: string, port: number): Buffer {
  const b = Buffer.alloc(8);
  b[1] = 0x01;
  b.writeUInt16BE(port ^ (COOKIE >>> 16), 2);
  const parts = address.split(".").map(Number);
  for (let i = 0; i < 4; i++) b[4 + i] = parts[i]! ^ ((COOKIE >>> (24 - 8 * i)) & 0xff);
  return b;
}

export function readXorAddress(b: Buffer): { address: string; port: number } {
  const port = b.readUInt16BE(2) ^ (COOKIE >>> 16);
  const address = [0, 1, 2, 3].map((i) => b[4 + i]! ^ ((COOKIE >>> (24 - 8 * i)) & 0xff)).join(".");
  return { address, port };
}

function encode(type: number, attrs: [number, Buffer][], tx: Buffer, key?: Buffer): Buffer {
  const body: Buffer[] = [];
  for (const [t, v] of attrs) {
    const h = Buffer.alloc(4);
    h.writeUInt16BE(t, 0);
    h.writeUInt16BE(v.length, 2);
    body.push(h, v, Buffer.alloc((4 - (v.length % 4)) % 4));
  }
  let payload = Buffer.concat(body);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(type, 0);
  header.writeUInt32BE(COOKIE, 4);
  tx.copy(header, 8);
  if (key) {
    header.writeUInt16BE(payload.length + 24, 2);
    const mac = createHmac("sha1", key).update(Buffer.concat([header, payload])).digest();
    const h = Buffer.alloc(4);
    h.writeUInt16BE(ATTR.MESSAGE_INTEGRITY, 0);
    h.writeUInt16BE(20, 2);
    payload = Buffer.concat([payload, h, mac]);
  }
  header.writeUInt16BE(payload.length, 2);
  return Buffer.concat([header, payload]);
}

function decode(b: Buffer): StunAnswer | undefined {
  if (b.length < 20 || b.readUInt32BE(4) !== COOKIE) return undefined;
  const attrs = new Map<number, Buffer[]>();
  let o = 20;
  const end = 20 + b.readUInt16BE(2);
  while (o + 4 <= end) {
    const t = b.readUInt16BE(o);
    const l = b.readUInt16BE(o + 2);
    (attrs.get(t) ?? attrs.set(t, []).get(t)!).push(b.subarray(o + 4, o + 4 + l));
    o += 4 + ((l + 3) & ~3);
  }
  const ec = attrs.get(ATTR.ERROR_CODE)?.[0];
  return { type: b.readUInt16BE(0), attrs, errorCode: ec ? (ec[2]! & 7) * 100 + ec[3]! : undefined };
}

/** Long-term credential client over one UDP socket. */
export class StunClient {
  readonly socket: Socket;
  private realm = "";
  private nonce = "";
  private key?: Buffer;
  private readonly waiting = new Map<string, (a: StunAnswer) => void>();
  /** Every datagram that is not a response to a request (Data indications, ChannelData). */
  readonly inbox: Buffer[] = [];

  private constructor(
    private readonly server: { host: string; port: number },
    private readonly username: string,
    private readonly password: string,
    socket: Socket,
  ) {
    this.socket = socket;
    socket.on("message", (m) => {
      const a = decode(m);
      const tx = m.length >= 20 ? m.toString("hex", 8, 20) : "";
      const w = this.waiting.get(tx);
      if (a && w) {
        this.waiting.delete(tx);
        w(a);
      } else this.inbox.push(m);
    });
  }

  static async open(server: { host: string; port: number }, username: string, password: string): Promise<StunClient> {
    const socket = createSocket("udp4");
    await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
    return new StunClient(server, username, password, socket);
  }

  send(b: Buffer): void {
    this.socket.send(b, this.server.port, this.server.host);
  }

  /** Sends a request (authenticating after the first 401/438) and waits for its answer. */
  async request(type: number, attrs: [number, Buffer][], retries = 2): Promise<StunAnswer> {
    const withAuth = (): [number, Buffer][] =>
      this.key
        ? [...attrs, [ATTR.USERNAME, Buffer.from(this.username)], [ATTR.REALM, Buffer.from(this.realm)], [ATTR.NONCE, Buffer.from(this.nonce)]]
        : attrs;
    for (let i = 0; ; i++) {
      const tx = randomBytes(12);
      const answer = await new Promise<StunAnswer>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiting.delete(tx.toString("hex"));
          reject(new Error(`no answer to STUN request 0x${type.toString(16)}`));
        }, 3000);
        this.waiting.set(tx.toString("hex"), (a) => {
          clearTimeout(timer);
          resolve(a);
        });
        this.send(encode(type, withAuth(), tx, this.key));
      });
      if ((answer.errorCode === 401 || answer.errorCode === 438) && i < retries && answer.attrs.get(ATTR.NONCE)) {
        const realm = answer.attrs.get(ATTR.REALM)?.[0]?.toString() ?? this.realm;
        const nonce = answer.attrs.get(ATTR.NONCE)![0]!.toString();
        const first = !this.key;
        this.realm = realm;
        this.nonce = nonce;
        this.key = createHash("md5").update(`${this.username}:${realm}:${this.password}`).digest();
        if (first || answer.errorCode === 438) continue;
      }
      return answer;
    }
  }

  allocate(extra: [number, Buffer][] = []): Promise<StunAnswer> {
    return this.request(0x0003, [[ATTR.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])], ...extra]);
  }

  createPermission(address: string): Promise<StunAnswer> {
    return this.request(0x0008, [[ATTR.XOR_PEER_ADDRESS, xorAddress(address, 0)]]);
  }

  channelBind(channel: number, address: string, port: number): Promise<StunAnswer> {
    const c = Buffer.alloc(4);
    c.writeUInt16BE(channel, 0);
    return this.request(0x0009, [[ATTR.CHANNEL_NUMBER, c], [ATTR.XOR_PEER_ADDRESS, xorAddress(address, port)]]);
  }

  refresh(lifetime: number): Promise<StunAnswer> {
    const l = Buffer.alloc(4);
    l.writeUInt32BE(lifetime, 0);
    return this.request(0x0004, [[ATTR.LIFETIME, l]]);
  }

  /** A Send indication (no answer expected). */
  sendIndication(address: string, port: number, data: Buffer): void {
    this.send(encode(0x0016, [[ATTR.XOR_PEER_ADDRESS, xorAddress(address, port)], [ATTR.DATA, data]], randomBytes(12)));
  }

  /** Waits until a datagram matching `pred` arrives. */
  async receive(pred: (m: Buffer) => boolean, timeoutMs = 3000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return this.inbox.splice(i, 1)[0]!;
      if (Date.now() > deadline) throw new Error("nothing matching arrived");
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

export function relayedAddressOf(a: StunAnswer): { address: string; port: number } {
  const b = a.attrs.get(ATTR.XOR_RELAYED_ADDRESS)?.[0];
  if (!b) throw new Error(`no XOR-RELAYED-ADDRESS (error ${a.errorCode})`);
  return readXorAddress(b);
}

/** UDP ports in [min, max] bound on this machine (from /proc/net/udp, the kernel's own list). */
export async function boundUdpPorts(min: number, max: number): Promise<number[]> {
  const { readFile } = await import("node:fs/promises");
  const ports: number[] = [];
  for (const f of ["/proc/net/udp", "/proc/net/udp6"]) {
    const text = await readFile(f, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      if (!local) continue;
      const port = parseInt(local.split(":")[1] ?? "", 16);
      if (port >= min && port <= max) ports.push(port);
    }
  }
  return ports;
}
