import type { Metrics } from "../ops/metrics.js";

interface Inc {
  inc(n?: number): void;
}
export interface SignalingMetrics {
  relayed(type: string): Inc;
  latency: { observe(seconds: number): void };
  dropped(reason: string): Inc;
  rateLimited: Inc;
}

/**
 * Signaling collectors on the server's registry. Labelled children are
 * cached: looking a label set up per message would cost more than the relay.
 */
export function signalingMetrics(m: Metrics, live: { sockets(): number; pollers(): number; rooms(): number; waiting(): number }): SignalingMetrics {
  const registers = [m.registry];
  new m.Gauge({
    name: "parley_signaling_connections",
    help: "Connected signaling clients by transport",
    labelNames: ["transport"] as const,
    registers,
    collect() {
      this.set({ transport: "ws" }, live.sockets());
      this.set({ transport: "poll" }, live.pollers());
    },
  });
  new m.Gauge({ name: "parley_signaling_rooms", help: "Rooms with at least one admitted participant connected", registers, collect() { this.set(live.rooms()); } });
  new m.Gauge({ name: "parley_signaling_waiting", help: "Participants waiting in lobbies", registers, collect() { this.set(live.waiting()); } });
  const relayed = new m.Counter({ name: "parley_signaling_messages_relayed_total", help: "Client messages relayed to other participants, by type", labelNames: ["type"] as const, registers });
  const latency = new m.Histogram({
    name: "parley_signaling_relay_latency_seconds",
    help: "Time from receiving a client message to handing it to the recipients' transports",
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registers,
  });
  const drops = new m.Counter({ name: "parley_signaling_messages_dropped_total", help: "Client messages not relayed, by reason", labelNames: ["reason"] as const, registers });
  const rateLimited = new m.Counter({ name: "parley_signaling_rate_limited_total", help: "Client messages refused by the per-participant rate limit", registers });
  const relayedChildren = new Map<string, Inc>();
  const dropChildren = new Map<string, Inc>();
  return {
    relayed(type) {
      let c = relayedChildren.get(type);
      if (!c) relayedChildren.set(type, (c = relayed.labels(type)));
      return c;
    },
    latency,
    dropped(reason) {
      let c = dropChildren.get(reason);
      if (!c) dropChildren.set(reason, (c = drops.labels(reason)));
      return c;
    },
    rateLimited,
  };
}
