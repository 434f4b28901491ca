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

type MetricValue = { value: number; labels?: Record<string, string | number>; metricName?: string };

/**
 * A counter with one label, kept in plain numbers and read at scrape time:
 * prom-client hashes and validates labels on every `inc`, which costs a
 * noticeable share of a relayed message.
 */
class RelayCounter {
  readonly type = "counter";
  readonly aggregator = "sum";
  private readonly counts = new Map<string, { n: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label?: string,
  ) {}

  child(value = ""): Inc {
    let c = this.counts.get(value);
    if (!c) this.counts.set(value, (c = { n: 0 }));
    const cell = c;
    return { inc: (n = 1) => void (cell.n += n) };
  }

  get() {
    const values: MetricValue[] = [];
    for (const [v, c] of this.counts) values.push({ value: c.n, labels: this.label ? { [this.label]: v } : {} });
    if (!this.label && !values.length) values.push({ value: 0, labels: {} });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const c of this.counts.values()) c.n = 0;
  }
}

/** A histogram kept in a typed array (same reason as RelayCounter). */
class RelayHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: number[],
  ) {
    this.counts = new Float64Array(buckets.length);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }

  get() {
    const values: MetricValue[] = [];
    let acc = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      acc += this.counts[i]!;
      values.push({ metricName: `${this.name}_bucket`, labels: { le: this.buckets[i]! }, value: acc });
    }
    values.push({ metricName: `${this.name}_bucket`, labels: { le: "+Inf" }, value: this.count });
    values.push({ metricName: `${this.name}_sum`, value: this.sum });
    values.push({ metricName: `${this.name}_count`, value: this.count });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/** Signaling collectors on the server's registry. */
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
  new m.Gauge({
    name: "parley_signaling_rooms",
    help: "Rooms with at least one admitted participant connected",
    registers,
    collect() {
      this.set(live.rooms());
    },
  });
  new m.Gauge({
    name: "parley_signaling_waiting",
    help: "Participants waiting in lobbies",
    registers,
    collect() {
      this.set(live.waiting());
    },
  });
  const relayed = new RelayCounter("parley_signaling_messages_relayed_total", "Client messages relayed to other participants, by type", "type");
  const drops = new RelayCounter("parley_signaling_messages_dropped_total", "Client messages not relayed, by reason", "reason");
  const rateLimited = new RelayCounter("parley_signaling_rate_limited_total", "Client messages refused by the per-participant rate limit");
  const latency = new RelayHistogram("parley_signaling_relay_latency_seconds", "Time from receiving a client message to handing it to the recipients' transports", [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05,
  ]);
  for (const metric of [relayed, drops, rateLimited, latency]) m.registry.registerMetric(metric as never);
  const relayedChildren = new Map<string, Inc>();
  const dropChildren = new Map<string, Inc>();
  return {
    relayed(type) {
      let c = relayedChildren.get(type);
      if (!c) relayedChildren.set(type, (c = relayed.child(type)));
      return c;
    },
    latency,
    dropped(reason) {
      let c = dropChildren.get(reason);
      if (!c) dropChildren.set(reason, (c = drops.child(reason)));
      return c;
    },
    rateLimited: rateLimited.child(),
  };
}
