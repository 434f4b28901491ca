import { createSocket } from "node:dgram";
import { networkInterfaces } from "node:os";
import NodeTurn from "node-turn";
import type { Counter } from "prom-client";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../ops/metrics.js";
import { parseTurnUsername, turnPassword } from "./credentials.js";
import { PeerPolicy } from "./peers.js";
import { Revocations } from "./revocations.js";

/** Allocations one participant may hold at once: a full mesh of 8 with an ICE restart each fits. */
export const MAX_ALLOCATIONS_PER_PARTICIPANT = 16;
/** RFC 5766 defaults: 10 minutes unless refreshed, at most one hour per request. */
export const DEFAULT_ALLOCATION_LIFETIME_S = 600;
export const MAX_ALLOCATION_LIFETIME_S = 3600;
/** How long the local address that reaches a client is remembered. */
const ROUTE_CACHE_MS = 60_000;
/** The realm of long-term credentials; coturn's config uses the same one. */
export const TURN_REALM = "parley";

export interface RelayLimits {
  maxAllocationsPerParticipant: number;
  defaultLifetimeSeconds: number;
  maxLifetimeSeconds: number;
}

/** Why the relay said no, as counted on /metrics. */
const REFUSAL_REASONS: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden_peer",
  420: "unknown_attribute",
  437: "allocation_mismatch",
  440: "address_family",
  441: "wrong_credentials",
  442: "unsupported_transport",
  443: "address_family",
  486: "quota",
  500: "server_error",
  508: "insufficient_capacity",
};

/**
 * The embedded TURN relay: node-turn (patched, see patches/) on
 * PARLEY_TURN_PORT/udp, with passwords derived from the username when a
 * request arrives (TURN REST form), revocation of removed participants,
 * the peer policy, a per-participant allocation cap and metrics.
 */
export class EmbeddedRelay {
  readonly limits: RelayLimits = {
    maxAllocationsPerParticipant: MAX_ALLOCATIONS_PER_PARTICIPANT,
    defaultLifetimeSeconds: DEFAULT_ALLOCATION_LIFETIME_S,
    maxLifetimeSeconds: MAX_ALLOCATION_LIFETIME_S,
  };
  readonly revocations: Revocations;
  private readonly turn: NodeTurn;
  private readonly policy: PeerPolicy;
  private readonly perParticipant = new Map<string, number>();
  private readonly routes = new Map<string, { local: string; at: number }>();
  private readonly refusals: Counter<"reason">;
  private running = false;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    metrics: Metrics,
  ) {
    const turnConfig = config.turn;
    this.revocations = new Revocations(turnConfig.ttlSeconds * 1000);
    this.policy = new PeerPolicy({ allowPrivatePeers: turnConfig.allowPrivatePeers, externalIp: turnConfig.externalIp, relayPorts: turnConfig.relayPorts });
    this.turn = new NodeTurn({
      // One wildcard socket, whatever PARLEY_HOST is: browsers reach the relay
      // on whichever address routes to them (LAN, VPN, a container's veth).
      listeningIps: ["0.0.0.0"],
      listeningPort: turnConfig.port,
      minPort: turnConfig.relayPorts.min,
      maxPort: turnConfig.relayPorts.max,
      defaultAllocatetLifetime: this.limits.defaultLifetimeSeconds,
      maxAllocateLifetime: this.limits.maxLifetimeSeconds,
      authMech: "long-term",
      realm: TURN_REALM,
      debugLevel: "OFF",
      log: (m) => this.log.debug({ turn: String(m) }, "turn"),
      passwordFor: (username, msg) => this.passwordFor(username, msg),
      peerPolicy: (address, port) => this.policy.decide(address, port),
      allowAllocation: (username) => this.allowAllocation(username),
      relayAddressFor: (client) => this.relayAddressFor(client),
      onRefusal: (code, reply) => {
        if (reply.isChallenge) return;
        this.refusals.inc({ reason: reply.request?.refusal ?? REFUSAL_REASONS[code] ?? String(code) });
      },
    });
    this.turn.on("allocation", (a) => {
      const id = participantOf(a);
      if (id !== undefined) this.perParticipant.set(id, (this.perParticipant.get(id) ?? 0) + 1);
    });
    this.turn.on("allocation-end", (a) => {
      const id = participantOf(a);
      if (id === undefined) return;
      const n = (this.perParticipant.get(id) ?? 1) - 1;
      if (n > 0) this.perParticipant.set(id, n);
      else this.perParticipant.delete(id);
    });

    const turn = this.turn;
    new metrics.Gauge({
      name: "parley_turn_allocations",
      help: "Live allocations on the embedded TURN relay",
      registers: [metrics.registry],
      collect() {
        this.set(turn.allocations.size);
      },
    });
    let counted = 0;
    new metrics.Counter({
      name: "parley_turn_relayed_bytes_total",
      help: "Payload bytes relayed by the embedded TURN relay (both directions)",
      registers: [metrics.registry],
      collect() {
        // the relay path only adds to a plain number; the counter catches up when scraped
        this.inc(turn.bytesRelayed - counted);
        counted = turn.bytesRelayed;
      },
    });
    this.refusals = new metrics.Counter({
      name: "parley_turn_refusals_total",
      help: "TURN requests refused by the embedded relay, by reason",
      labelNames: ["reason"] as const,
      registers: [metrics.registry],
    });
  }

  /** Binds PARLEY_TURN_PORT; a port in use is one clear error naming the variable. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.turn.start((err) => {
        if (!err) {
          this.running = true;
          this.log.info({ port: this.config.turn.port, relayPorts: `${this.config.turn.relayPorts.min}-${this.config.turn.relayPorts.max}` }, "TURN relay listening (udp)");
          return resolve();
        }
        const port = this.config.turn.port;
        reject(
          err.code === "EADDRINUSE"
            ? new Error(`PARLEY_TURN_PORT: UDP port ${port} is already in use (another TURN server?); stop it, choose another port, or set PARLEY_TURN=external|off`)
            : err.code === "EACCES"
              ? new Error(`PARLEY_TURN_PORT: not allowed to listen on UDP port ${port}; use a port above 1023 or run with the needed privilege`)
              : new Error(`PARLEY_TURN_PORT: cannot listen on UDP port ${port}: ${err.message}`),
        );
      });
    });
  }

  /** Closes the listening socket and every relay socket. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.turn.stop();
  }

  get allocationCount(): number {
    return this.turn.allocations.size;
  }

  /** Relay ports currently bound (allocations and EVEN-PORT reservations). */
  get openRelaySockets(): number {
    let n = Object.keys(this.turn.reservations).length;
    for (const a of this.turn.allocations.values()) n += a.sockets.length;
    return n;
  }

  /** Lets tests and the benchmark shorten lifetimes or lift the cap. */
  setLimits(limits: Partial<RelayLimits>): void {
    Object.assign(this.limits, limits);
    this.turn.defaultAllocatetLifetime = this.limits.defaultLifetimeSeconds;
    this.turn.maxAllocateLifetime = this.limits.maxLifetimeSeconds;
  }

  /**
   * A participant's credentials stop working and their allocations close now.
   * Credentials issued after `at` (the same id in another room) keep working.
   */
  revoke(participantId: string, at = Date.now()): number {
    this.revocations.revoke(participantId, at);
    const ttlMs = this.config.turn.ttlSeconds * 1000;
    const closed = this.turn.closeAllocations((a) => {
      const parsed = parseTurnUsername(a.user.username);
      return parsed !== undefined && parsed.participantId === participantId && parsed.expiresAt - ttlMs <= at;
    }, "revoked");
    if (closed) this.log.info({ participantId, closed }, "closed TURN allocations of a revoked participant");
    return closed;
  }

  private passwordFor(username: string, msg: NodeTurn.Message): string | null {
    const parsed = parseTurnUsername(username);
    if (!parsed) {
      msg.refusal = "malformed_username";
      return null;
    }
    if (parsed.expiresAt <= Date.now()) {
      msg.refusal = "expired";
      return null;
    }
    if (this.revocations.isRevoked(parsed.participantId, parsed.expiresAt - this.config.turn.ttlSeconds * 1000)) {
      msg.refusal = "revoked";
      return null;
    }
    return turnPassword(this.config.turn.secret, username);
  }

  private allowAllocation(username: string): boolean {
    const id = parseTurnUsername(username)?.participantId;
    return id === undefined || (this.perParticipant.get(id) ?? 0) < this.limits.maxAllocationsPerParticipant;
  }

  /**
   * Where to open a client's relayed port, and what to advertise: the local
   * address the kernel routes to that client from (the one it reached, on a
   * wildcard socket Node cannot tell directly), or PARLEY_TURN_EXTERNAL_IP
   * behind NAT.
   */
  private async relayAddressFor(client: string): Promise<{ bind: string; advertise?: string }> {
    const local = await this.localAddressTowards(client);
    return { bind: local, advertise: this.config.turn.externalIp };
  }

  private async localAddressTowards(client: string): Promise<string> {
    const cached = this.routes.get(client);
    if (cached && Date.now() - cached.at < ROUTE_CACHE_MS) return cached.local;
    const local = await new Promise<string>((resolve) => {
      // connect() on UDP sends nothing: it only asks the routing table for the source address.
      const probe = createSocket("udp4");
      const done = (address: string) => {
        probe.close();
        resolve(address);
      };
      probe.once("error", () => done("0.0.0.0"));
      probe.connect(9, client, () => {
        try {
          done(probe.address().address);
        } catch {
          done("0.0.0.0");
        }
      });
    });
    const usable = local === "0.0.0.0" ? fallbackAddress() : local;
    if (this.routes.size > 10_000) this.routes.clear();
    this.routes.set(client, { local: usable, at: Date.now() });
    return usable;
  }
}

/** No route to the client (should not happen for a client that just reached us): the first external IPv4 address. */
function fallbackAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (i.family === "IPv4" && !i.internal) return i.address;
  }
  return "127.0.0.1";
}

function participantOf(a: NodeTurn.Allocation): string | undefined {
  return a.user ? parseTurnUsername(a.user.username)?.participantId : undefined;
}
