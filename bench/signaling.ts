/**
 * `npm run bench:signaling` — Parley's signaling relay against a bare `ws`
 * relay (bench/raw-ws-relay.ts), in one run, driven by one load generator
 * (bench/loadgen.ts) in its own process:
 *
 *   500 rooms × 4 peers = 2,000 WebSockets per server, 1 KB offer-like
 *   messages to a peer in the same room;
 *   - saturation msg/s with 1,000 and 4,000 messages in flight,
 *   - p50/p99 relay latency at a fixed 5,000 msg/s,
 *   - server RSS per idle connection ((RSS with N idle sockets − RSS before) / N),
 *   - the same for 200 long-poll peers (Parley only; the baseline has no polling).
 *
 * Servers run pinned to core 0, the load generator to core 1 (`taskset`).
 * Both servers stay up for the whole run and the measurements alternate
 * between them (raw, Parley, raw, Parley …), so a burst of load from
 * something else on the machine hits both; each figure is the best of the
 * rounds. The last line is the summary:
 *
 *   signaling: <msg/s> msg/s (<ratio>× raw ws), p99 <ms> ms
 *
 * Options (environment): BENCH_ROUNDS (2), BENCH_SECONDS (measured seconds
 * per phase, 4), BENCH_ONLY=ws|poll, BENCH_NICE=-10 (run the
 * three processes at a higher priority: on a machine busy with other work
 * the figures otherwise measure the scheduler), BENCH_CPU_PROF=<dir> (V8 CPU profiles of
 * the Parley server during the measured WebSocket and long-poll phases only;
 * summarise with `npx tsx bench/profile-summary.ts <file>`).
 * Any PARLEY_* variable is passed to the Parley server.
 */
import { openSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pinned, spawnPinned, waitReady, type CpuSample, type MemorySample, type Remote } from "./ipc.js";

const ROOMS = 500;
const PEERS_PER_ROOM = 4;
const POLL_ROOMS = 50;
const IN_FLIGHT = [1000, 4000] as const;
const POLL_IN_FLIGHT = [200, 1000] as const;
const FIXED_RATE = 5000;
/** BENCH_ONLY=ws or =poll runs one part (while working on it); the summary line needs both servers' WebSocket figures. */
const ONLY = process.env.BENCH_ONLY;
const ROUNDS = positiveInt("BENCH_ROUNDS", 2);
const SECONDS = positiveInt("BENCH_SECONDS", 4);
const WARMUP_MS = 1500;
/** The whole run is cut off after this, whatever state it is in. */
const RUN_LIMIT_MS = 300_000;
/** Rounds after the first start only while the run is younger than this (a loaded machine makes every phase slower). */
const EXTRA_ROUNDS_UNTIL_MS = 140_000;
const runStarted = Date.now();
const moreRounds = (round: number) => round === 1 || Date.now() - runStarted < EXTRA_ROUNDS_UNTIL_MS;

function positiveInt(name: string, dflt: number): number {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isInteger(v) || v < 1 || v > 60) throw new Error(`${name} must be an integer 1-60`);
  return v;
}

interface SaturateResult {
  msgPerSec: number;
  delivered: number;
  total: number;
  errors: number;
  lost: number;
  p50: number;
  p99: number;
  loadgenCpu: number;
}
interface FixedResult {
  rate: number;
  sent: number;
  received: number;
  errors: number;
  lost: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  maxBurst: number;
  loadgenCpu: number;
  overloaded: boolean;
}

const children: Remote[] = [];
const log = (line = "") => process.stdout.write(line + "\n");
const ms = (v: number) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) : "n/a");
const kb = (bytes: number) => (bytes / 1024).toFixed(1);
const int = (v: number) => Math.round(v).toLocaleString("en-US");

async function cpuOf(server: Remote): Promise<number> {
  const c = await server.call<CpuSample>("cpu");
  return c.user + c.system;
}

/** Idle memory of `name`'s connections on `server`: memory before opening them vs. after. */
async function idleMemory(loadgen: Remote, server: Remote, name: string) {
  await settle(server);
  const before = await server.call<MemorySample>("mem");
  const opened = await loadgen.call<{ peers: number; connectMs: number }>("open", { name }, 120_000);
  await new Promise((r) => setTimeout(r, 1000));
  const after = await server.call<MemorySample>("mem");
  return {
    peers: opened.peers,
    connectMs: opened.connectMs,
    before,
    after,
    rssPerConn: (after.rss - before.rss) / opened.peers,
    heapPerConn: (after.heapUsed - before.heapUsed) / opened.peers,
  };
}

/**
 * Waits (up to 15 s) until the server is idle: below 10 % of a core over
 * 300 ms. A phase must not start while the server still works off the last
 * one (a backlog, 2,000 disconnects, a GC).
 */
async function settle(server: Remote): Promise<void> {
  const end = Date.now() + 15_000;
  while (Date.now() < end) {
    const c0 = await cpuOf(server);
    await new Promise((r) => setTimeout(r, 300));
    if ((await cpuOf(server)) - c0 < 30_000) return;
  }
}

async function saturation(loadgen: Remote, server: Remote, name: string, inFlight: number) {
  await settle(server);
  const cpu0 = await cpuOf(server);
  const r = await loadgen.call<SaturateResult>("saturate", { name, inFlight, warmupMs: WARMUP_MS, durationMs: SECONDS * 1000 }, 120_000);
  const cpuUs = (await cpuOf(server)) - cpu0;
  return { ...r, serverUsPerMsg: r.total ? cpuUs / r.total : NaN };
}

async function fixed(loadgen: Remote, server: Remote, name: string, rate: number) {
  await settle(server);
  const cpu0 = await cpuOf(server);
  const t0 = performance.now();
  const r = await loadgen.call<FixedResult>("fixedRate", { name, rate, warmupMs: 1000, durationMs: SECONDS * 1000 }, 120_000);
  const serverCpu = ((await cpuOf(server)) - cpu0) / 1000 / (performance.now() - t0);
  return { ...r, serverCpu };
}

function satLine(label: string, r: Awaited<ReturnType<typeof saturation>>): string {
  const extra = [r.errors ? `${r.errors} errors` : "", r.lost ? `${r.lost} not delivered within 10 s` : ""].filter(Boolean).join(", ");
  return `  ${label.padEnd(34)} ${int(r.msgPerSec).padStart(7)} msg/s   p50 ${ms(r.p50).padStart(6)} ms  p99 ${ms(r.p99).padStart(6)} ms   server ${r.serverUsPerMsg.toFixed(1).padStart(5)} µs CPU/msg   loadgen CPU ${Math.round(r.loadgenCpu * 100)} %${extra ? "   " + extra : ""}`;
}

function fixedLine(label: string, r: Awaited<ReturnType<typeof fixed>>): string {
  const extra = [
    r.overloaded ? `OVERLOADED: stopped after the server fell ${int(r.rate * 2)} messages behind (latency is queueing)` : "",
    r.errors ? `${r.errors} errors` : "",
    r.lost ? `${r.lost} not delivered within 10 s` : "",
    r.received < r.sent ? `${r.sent - r.received} of ${r.sent} not received` : "",
  ]
    .filter(Boolean)
    .join(", ");
  return `  ${label.padEnd(34)} p50 ${ms(r.p50).padStart(6)} ms  p90 ${ms(r.p90).padStart(6)} ms  p99 ${ms(r.p99).padStart(6)} ms  max ${ms(r.max).padStart(6)} ms   server CPU ${Math.round(r.serverCpu * 100)} %   (${int(r.received)} samples)${extra ? "   " + extra : ""}`;
}

function memLine(label: string, m: Awaited<ReturnType<typeof idleMemory>>): string {
  return `  ${label.padEnd(34)} RSS ${(m.before.rss / 1048576).toFixed(1)} → ${(m.after.rss / 1048576).toFixed(1)} MB = ${kb(m.rssPerConn)} KB per connection (heap ${kb(m.heapPerConn)} KB)   connected in ${m.connectMs} ms`;
}

const best = <T>(xs: T[], key: (x: T) => number, pick: "max" | "min"): T => xs.reduce((a, b) => ((pick === "max" ? key(b) > key(a) : key(b) < key(a)) ? b : a));

async function main(): Promise<void> {
  const started = Date.now();
  log(`Signaling benchmark: ${ROOMS} rooms × ${PEERS_PER_ROOM} peers, 1 KB offers, ${ROUNDS} round(s) of ${SECONDS} s per phase`);
  log(`  ${cpus().length} cores (${cpus()[0]?.model.trim()}), Node ${process.version}, ${pinned ? "servers pinned to core 0, load generator to core 1" : "NOT pinned (needs taskset and 2 cores): figures are less stable"}${process.env.BENCH_NICE ? `, nice ${process.env.BENCH_NICE}` : ""}`);

  const serverLog = join(tmpdir(), `parley-bench-${process.pid}.log`);
  const profDir = process.env.BENCH_CPU_PROF;
  const loadgen = spawnPinned("loadgen", 1, "./loadgen.ts");
  const raw = spawnPinned("raw ws relay", 0, "./raw-ws-relay.ts");
  const logFd = openSync(serverLog, "w");
  const parley = spawnPinned("parley", 0, "./parley-server.ts", { stdio: ["ignore", logFd, logFd, "ipc"] });
  children.push(loadgen, raw, parley);
  const [, rawInfo, parleyInfo] = await Promise.all([
    waitReady(loadgen),
    waitReady<{ url: string }>(raw),
    waitReady<{ url: string; apiKey: string; jwtSecret: string }>(parley),
  ]);
  log(`  Parley server log: ${serverLog}; load average at start ${loadavg()[0]!.toFixed(1)} (other programs on these cores make every figure worse)`);
  log();

  const profile = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    if (!profDir) return run();
    await parley.call("profileStart");
    try {
      return await run();
    } finally {
      const file = await parley.call<string>("profileStop", join(profDir, `parley-${what}-${process.pid}.cpuprofile`));
      log(`  CPU profile of the Parley server during the ${what} phases: ${file}`);
      log();
    }
  };
  const ws = ONLY === "poll" ? undefined : await webSocketPhase(loadgen, raw, parley, rawInfo.url, parleyInfo, profile);
  const poll = ONLY === "ws" ? undefined : await pollPhase(loadgen, parley, parleyInfo, profile);

  // ---------------------------------------------------------------- what the server counted
  const counts = { ...(await loadgen.call<Record<string, number>>("counts", { name: "parley" })) };
  for (const [k, v] of Object.entries(await loadgen.call<Record<string, number>>("counts", { name: "poll" }))) counts[`poll ${k}`] = v;
  const notable = Object.entries(counts).filter(([k]) => /error:|close:|unparsable|poll-failed|poll:/.test(k));
  if (notable.length) log(`Parley answered: ${notable.map(([k, v]) => `${k} ×${v}`).join(", ")}`);
  const metrics = await fetch(`${parleyInfo.url}/metrics`).then((r) => r.text(), () => "");
  const lines = metrics.split("\n").filter((l) => /^parley_\w*(rate_limit|drop|slow)\w*(\{[^}]*\})? [1-9]/.test(l));
  if (lines.length) log(`Parley /metrics: ${lines.join("; ")}`);

  // ---------------------------------------------------------------- summary
  log("Summary (best of rounds):");
  const pollSummary = poll ? `long-poll (${poll.peers} peers): ${int(poll.sat.msgPerSec)} msg/s, p50/p99 ${ms(poll.fixed.p50)} / ${ms(poll.fixed.p99)} ms at ${int(poll.fixed.rate)} msg/s, ${kb(poll.mem.rssPerConn)} KB per idle poller` : "long-poll: not measured";
  if (!ws) {
    log(`  ${pollSummary}`);
    log(`  (run took ${Math.round((Date.now() - started) / 1000)} s)`);
    return;
  }
  const { rawMem, parleyMem, sat, fix } = ws;
  const rawSat = best(sat["raw/1000"]!, (r) => r.msgPerSec, "max");
  const rawSat4k = best(sat["raw/4000"]!, (r) => r.msgPerSec, "max");
  const rawFix = best(fix.raw!, (r) => r.p99, "min");
  log(`  raw ws relay: ${int(rawSat.msgPerSec)} msg/s (1,000 in flight), ${int(rawSat4k.msgPerSec)} msg/s (4,000), p50/p99 at ${int(FIXED_RATE)} msg/s ${ms(rawFix.p50)} / ${ms(rawFix.p99)} ms, ${kb(rawMem.rssPerConn)} KB per idle socket`);
  if (!parleyMem) {
    log(`  Parley: not measured (${ws.parleyError})`);
    log(`  ${pollSummary}`);
    log(`  (run took ${Math.round((Date.now() - started) / 1000)} s)`);
    log(`signaling: n/a msg/s (n/a× raw ws), p99 n/a ms`);
    return;
  }
  const pSat = best(sat["parley/1000"]!, (r) => r.msgPerSec, "max");
  const pSat4k = best(sat["parley/4000"]!, (r) => r.msgPerSec, "max");
  const pFix = best(fix.parley!, (r) => r.p99, "min");
  const ratio = pSat.msgPerSec / rawSat.msgPerSec;
  const ratio4k = pSat4k.msgPerSec / rawSat4k.msgPerSec;
  const p99Ratio = pFix.p99 / rawFix.p99;
  log(`  Parley ws:    ${int(pSat.msgPerSec)} msg/s (1,000 in flight), ${int(pSat4k.msgPerSec)} msg/s (4,000), p50/p99 at ${int(FIXED_RATE)} msg/s ${ms(pFix.p50)} / ${ms(pFix.p99)} ms, ${kb(parleyMem.rssPerConn)} KB per idle socket`);
  log(`  ${pollSummary}`);
  const goal = (ok: boolean) => (ok ? "met" : "NOT met");
  log(`  goals: throughput ${ratio.toFixed(2)}× raw at 1,000 in flight, ${ratio4k.toFixed(2)}× at 4,000 (≥ 0.8×: ${goal(Math.min(ratio, ratio4k) >= 0.8)}); ` + `p99 ${p99Ratio.toFixed(2)}× raw (≤ 1.5×: ${goal(p99Ratio <= 1.5)}); ` + `${kb(parleyMem.rssPerConn)} KB per idle connection (≤ 30 KB: ${goal(parleyMem.rssPerConn <= 30 * 1024)})`);
  log(`  (run took ${Math.round((Date.now() - started) / 1000)} s, load average now ${loadavg()[0]!.toFixed(1)})`);
  log(`signaling: ${Math.round(pSat.msgPerSec)} msg/s (${ratio.toFixed(2)}× raw ws), p99 ${ms(pFix.p99)} ms`);
}

type Sat = Awaited<ReturnType<typeof saturation>>;
type Fixed = Awaited<ReturnType<typeof fixed>>;

/** 2,000 WebSockets on each server: idle memory, then saturation and fixed-rate rounds alternating between them. */
type Profiler = <T>(what: string, run: () => Promise<T>) => Promise<T>;

async function webSocketPhase(loadgen: Remote, raw: Remote, parley: Remote, rawUrl: string, parleyInfo: { url: string; apiKey: string; jwtSecret: string }, profile: Profiler) {
  log("Idle connections (server memory after a full GC, before → after connecting):");
  await loadgen.call("prepare", { name: "raw", kind: "raw", url: rawUrl, rooms: ROOMS, peersPerRoom: PEERS_PER_ROOM });
  const rawMem = await idleMemory(loadgen, raw, "raw");
  log(memLine(`raw ws relay, ${rawMem.peers} sockets`, rawMem));
  let parleyMem: Awaited<ReturnType<typeof idleMemory>> | undefined;
  let parleyError: string | undefined;
  try {
    const prep = await loadgen.call<{ roomsMs: number }>("prepare", { name: "parley", kind: "parley", url: parleyInfo.url, apiKey: parleyInfo.apiKey, jwtSecret: parleyInfo.jwtSecret, rooms: ROOMS, peersPerRoom: PEERS_PER_ROOM }, 120_000);
    parleyMem = await idleMemory(loadgen, parley, "parley");
    log(memLine(`Parley ws, ${parleyMem.peers} sockets`, parleyMem) + `   (${ROOMS} rooms created in ${prep.roomsMs} ms)`);
  } catch (err) {
    parleyError = (err as Error).message.split("\n")[0];
    log(`  Parley ws: NOT MEASURED — ${parleyError}`);
  }
  log();

  const sat: Record<string, Sat[]> = {};
  const fix: Record<string, Fixed[]> = {};
  const servers: [string, Remote, string][] = [["raw", raw, "raw ws relay"]];
  if (parleyMem) servers.push(["parley", parley, "Parley ws"]);
  await profile("websocket", async () => {
    log(`Saturation (${servers.length > 1 ? "alternating, " : ""}${SECONDS} s each after ${WARMUP_MS / 1000} s warm-up):`);
    for (let round = 1; round <= ROUNDS && moreRounds(round); round++) {
      for (const inFlight of IN_FLIGHT) {
        for (const [name, server, label] of servers) {
          const r = await saturation(loadgen, server, name, inFlight);
          (sat[`${name}/${inFlight}`] ??= []).push(r);
          log(satLine(`${label}, ${int(inFlight)} in flight #${round}`, r));
        }
      }
    }
    log();
    log(`Fixed ${int(FIXED_RATE)} msg/s (open loop, ${SECONDS} s measured after 1 s):`);
    for (let round = 1; round <= ROUNDS && moreRounds(round); round++) {
      for (const [name, server, label] of servers) {
        const r = await fixed(loadgen, server, name, FIXED_RATE);
        (fix[name] ??= []).push(r);
        log(fixedLine(`${label} #${round}`, r));
      }
    }
    log();
  });
  for (const [name] of servers) await loadgen.call("disconnect", { name });
  return { rawMem, parleyMem, parleyError, sat, fix };
}

/** 200 long-poll peers on Parley (the raw relay has no polling): idle memory, saturation, latency. */
async function pollPhase(loadgen: Remote, parley: Remote, parleyInfo: { url: string; apiKey: string; jwtSecret: string }, profile: Profiler) {
  const peers = POLL_ROOMS * PEERS_PER_ROOM;
  log(`Long-poll, ${POLL_ROOMS} rooms × ${PEERS_PER_ROOM} = ${peers} pollers (Parley only; the raw relay has no polling):`);
  try {
    await loadgen.call("prepare", { name: "poll", kind: "poll", url: parleyInfo.url, apiKey: parleyInfo.apiKey, jwtSecret: parleyInfo.jwtSecret, rooms: POLL_ROOMS, peersPerRoom: PEERS_PER_ROOM }, 60_000);
    const mem = await idleMemory(loadgen, parley, "poll");
    log(memLine(`idle pollers (each holding a GET)`, mem));
    const { sat, f } = await profile("long-poll", async () => {
      const sats: Sat[] = [];
      for (const inFlight of POLL_IN_FLIGHT) {
        const r = await saturation(loadgen, parley, "poll", inFlight);
        sats.push(r);
        log(satLine(`long-poll, ${int(inFlight)} in flight`, r));
      }
      const sat = best(sats, (r) => r.msgPerSec, "max");
      // 5,000 msg/s over 200 pollers is past what polling is for on one core. An open-loop rate sends most
      // messages alone (a POST and a poll answer each), so latency is measured at a quarter of the batched
      // saturation when that is lower (the line says which rate).
      const rate = Math.min(FIXED_RATE, Math.max(100, Math.floor(sat.msgPerSec / 4 / 100) * 100));
      const f = await fixed(loadgen, parley, "poll", rate);
      log(fixedLine(`long-poll at ${int(rate)} msg/s`, f));
      return { sat, f };
    });
    log();
    await loadgen.call("disconnect", { name: "poll" });
    return { peers, mem, sat, fixed: f };
  } catch (err) {
    log(`  NOT MEASURED — ${(err as Error).message.split("\n")[0]}`);
    log();
    return undefined;
  }
}

async function shutdown(): Promise<void> {
  await Promise.all(children.map((c) => c.exit().catch(() => c.child.kill("SIGKILL"))));
}

/** Cuts the IPC channels (each child then cleans up — Parley removes its data dir — and exits); kills what is left after 10 s. */
async function abandon(): Promise<void> {
  const exits = children.filter((c) => c.alive).map((c) => new Promise<void>((resolve) => c.child.once("exit", () => resolve())));
  for (const c of children) if (c.child.connected) c.child.disconnect();
  await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 10_000))]);
  for (const c of children) if (c.alive) c.child.kill("SIGKILL");
}

const limit = setTimeout(() => {
  process.stderr.write(`bench: the run took longer than ${RUN_LIMIT_MS / 1000} s; stopping\n`);
  void abandon().finally(() => process.exit(1));
}, RUN_LIMIT_MS);
limit.unref();

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}, stopping the servers\n`);
    void shutdown().finally(() => process.exit(130));
  });
}

try {
  await main();
  await shutdown();
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
  await abandon();
  process.exitCode = 1;
}
