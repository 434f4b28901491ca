/**
 * `npm run bench:turn` — the embedded TURN relay against coturn, in one run,
 * both driven by coturn's own load generator:
 *
 *   turnutils_uclient -y -m 20 -n <N> -l 1000 -z <ms>   (20 client pairs talking
 *   to each other through the relay over channels, as browsers do, RTCP
 *   allocations included; every message crosses the relay twice)
 *
 * Each server runs in its own process pinned to core 0, the client on core 1
 * (`taskset`). Parley is the real server (started as `npm start` would, with
 * credentials from its API); coturn runs from turn/turnserver.conf with the
 * same secret. Rounds alternate (coturn, Parley, coturn, Parley …) so a burst
 * of load from elsewhere hits both; each server's figures are from its best
 * round (least loss, then most throughput).
 *
 * Throughput is payload received by the clients per second while all are
 * sending, from uclient's once-a-second progress lines; loss is uclient's
 * "Total lost packets"; CPU is the server process's user+system time
 * (/proc/<pid>/stat) over the run. The last line is the summary:
 *
 *   turn: <Mbit/s> (<ratio>× coturn), loss <pct>%
 *
 * Options (environment): BENCH_TURN_MESSAGES per client (2000),
 * BENCH_TURN_INTERVAL ms between a client's messages (5: 20 pairs offer
 * ~60 Mbit/s through the relay, which a loaded 2-core machine sustains
 * without loss for both servers; at 1 ms the single uclient process itself
 * drops datagrams when other work shares the machine), BENCH_TURN_MODE
 * extra uclient flags (e.g. "-c -s" for Send indications), BENCH_ROUNDS (2).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freeUdpPort, parseUclient, randomRelayRange } from "../test/helpers/turn.js";

const CLIENTS = 20;
const MESSAGE_BYTES = 1000;
const MESSAGES = positiveInt("BENCH_TURN_MESSAGES", 2000);
const INTERVAL_MS = positiveInt("BENCH_TURN_INTERVAL", 5);
const ROUNDS = positiveInt("BENCH_ROUNDS", 2);
const MODE = (process.env.BENCH_TURN_MODE ?? "").split(/\s+/).filter(Boolean);
const SECRET = "bench-turn-secret-0123456789abcdef";
const CLK_TCK = 100;
const ROOT = fileURLToPath(new URL("..", import.meta.url));

function positiveInt(name: string, dflt: number): number {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`);
  return v;
}

const pinned = (core: number, cmd: string, args: string[]) => (cpus().length > 1 ? ["taskset", ["-c", String(core), cmd, ...args]] : [cmd, args]) as [string, string[]];

async function freeTcpPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** user+system CPU seconds of a process and all its threads. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
}

interface Target {
  name: string;
  pid: number;
  port: number;
  username: string;
  password: string;
  stop(): Promise<void>;
}

function waitFor(child: ChildProcess, pattern: RegExp, what: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${out.slice(-500)}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d;
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] ?? m[0]);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${what} exited (${code}): ${out.slice(-500)}`)));
  });
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
}

async function startParley(dir: string): Promise<Target> {
  const turnPort = await freeUdpPort();
  const range = randomRelayRange(400);
  const [cmd, args] = pinned(0, process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--serve"]);
  const child = spawn(cmd, args, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PARLEY_PORT: String(await freeTcpPort()),
      PARLEY_HOST: "127.0.0.1",
      PARLEY_DATA_DIR: join(dir, "parley"),
      PARLEY_TURN: "embedded",
      PARLEY_TURN_PORT: String(turnPort),
      PARLEY_TURN_RELAY_PORTS: range.env,
      PARLEY_TURN_SECRET: SECRET,
      PARLEY_LOG_LEVEL: "warn",
    },
  });
  const ready = JSON.parse(await waitFor(child, /^BENCH-READY (.*)$/m, "Parley").catch(async (err) => {
    await stopper(child)();
    throw err;
  })) as { username: string; password: string };
  return { name: "Parley (node-turn, patched)", pid: child.pid!, port: turnPort, ...ready, stop: stopper(child) };
}

async function startCoturn(dir: string): Promise<Target> {
  const port = await freeUdpPort();
  const range = randomRelayRange(400);
  const [cmd, args] = pinned(0, "turnserver", [
    "-c", join(ROOT, "turn/turnserver.conf"),
    "--listening-port", String(port),
    "--listening-ip", "127.0.0.1",
    "--relay-ip", "127.0.0.1",
    "--min-port", String(range.min),
    "--max-port", String(range.max),
    "--static-auth-secret", SECRET,
    "--allow-loopback-peers",
    "--allowed-peer-ip=127.0.0.1",
    "--user-quota", "0",
    "--db", join(dir, "turndb"),
    "--pidfile", join(dir, "turnserver.pid"),
  ]);
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  await waitFor(child, /Total General servers|listener opened on/, "coturn").catch(async (err) => {
    await stopper(child)();
    throw err;
  });
  const { issueTurnCredential } = await import("../src/turn/credentials.js");
  const c = issueTurnCredential({ turn: { secret: SECRET, ttlSeconds: 3600, urls: ["turn:127.0.0.1"] } } as never, "bench");
  return { name: "coturn 4.6 (turn/turnserver.conf)", pid: child.pid!, port, username: c.username, password: c.password, stop: stopper(child) };
}

interface RunResult {
  mbps: number;
  lossPercent: number;
  sent: number;
  received: number;
  cpuSeconds: number;
  cpuPercent: number;
  cpuUsPerMessage: number;
  rssMb: number;
}

/** Received-bytes rate between the first progress line with traffic and the last one before sending ends. */
function steadyMbps(output: string, totalMessages: number): number {
  const lines = [...output.matchAll(/^(\d+): : start_mclient: msz=\d+, tot_send_msgs=(\d+), tot_recv_msgs=(\d+), tot_send_bytes ~ (\d+), tot_recv_bytes ~ (\d+)/gm)].map((m) => ({
    t: Number(m[1]),
    sent: Number(m[2]),
    recvBytes: Number(m[5]),
  }));
  const active = lines.filter((l) => l.recvBytes > 0);
  const first = active[0];
  const lastSending = [...active].reverse().find((l) => l.sent < totalMessages) ?? active[active.length - 1];
  if (!first || !lastSending || lastSending.t <= first.t) {
    const last = active[active.length - 1];
    return last ? (last.recvBytes * 8) / 1e6 / Math.max(1, last.t - (first?.t ?? 0) + 1) : 0;
  }
  return ((lastSending.recvBytes - first.recvBytes) * 8) / 1e6 / (lastSending.t - first.t);
}

async function run(target: Target): Promise<RunResult> {
  const cpu0 = cpuSeconds(target.pid);
  const t0 = performance.now();
  const [cmd, args] = pinned(1, "turnutils_uclient", [
    "-y", ...MODE,
    "-m", String(CLIENTS),
    "-n", String(MESSAGES),
    "-l", String(MESSAGE_BYTES),
    "-z", String(INTERVAL_MS),
    "-u", target.username,
    "-w", target.password,
    "-p", String(target.port),
    "127.0.0.1",
  ]);
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", () => resolve(out));
  });
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(target.pid) - cpu0;
  const r = parseUclient(output, 0);
  if (r.lostPackets < 0) throw new Error(`${target.name}: uclient gave no summary:\n${output.slice(-800)}`);
  return {
    mbps: steadyMbps(output, r.sent > 0 ? r.sent : MESSAGES),
    lossPercent: r.lossPercent,
    sent: r.sent,
    received: r.received,
    cpuSeconds: cpu,
    cpuPercent: (100 * cpu) / wall,
    cpuUsPerMessage: (cpu * 1e6) / Math.max(1, r.received),
    rssMb: rssMb(target.pid),
  };
}

/** The round with the least loss, then the highest throughput (a burst of load elsewhere costs loss first). */
function best(results: RunResult[]): RunResult {
  return results.reduce((a, b) => (b.lossPercent < a.lossPercent || (b.lossPercent === a.lossPercent && b.mbps > a.mbps) ? b : a));
}

const fmt = (n: number, d = 1) => n.toFixed(d);

async function serve(): Promise<void> {
  const { loadConfig } = await import("../src/config.js");
  const { createLogger } = await import("../src/log.js");
  const { startServer } = await import("../src/server.js");
  const { relayOf } = await import("../src/turn/capability.js");
  const config = loadConfig();
  const running = await startServer(config, createLogger(config.logLevel));
  // one credential for 80 allocations (uclient shares one user name between all its clients)
  relayOf(running.ctx)!.setLimits({ maxAllocationsPerParticipant: 10_000 });
  const auth = { authorization: `Bearer ${config.apiKey}`, "content-type": "application/json" };
  const room = (await (await fetch(`${running.url}/api/rooms`, { method: "POST", headers: auth, body: JSON.stringify({ participants: [{ name: "Bench", role: "host" }] }) })).json()) as {
    participants: { token: string }[];
  };
  const creds = (await (await fetch(`${running.url}/api/turn/credentials`, { headers: { authorization: `Bearer ${room.participants[0]!.token}` } })).json()) as { username: string; password: string };
  console.log(`BENCH-READY ${JSON.stringify({ username: creds.username, password: creds.password })}`);
  const stop = async () => {
    await running.stop();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "parley-bench-turn-"));
  const targets: Target[] = [];
  try {
    const coturn = await startCoturn(dir);
    targets.push(coturn);
    const parley = await startParley(dir);
    targets.push(parley);
    console.log(
      `TURN relay: turnutils_uclient -y ${MODE.join(" ")} -m ${CLIENTS} -n ${MESSAGES} -l ${MESSAGE_BYTES} -z ${INTERVAL_MS} on core 1, servers on core 0, ${ROUNDS} rounds`,
    );
    const results = new Map<Target, RunResult[]>([
      [coturn, []],
      [parley, []],
    ]);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of [coturn, parley]) {
        const r = await run(t);
        results.get(t)!.push(r);
        console.log(
          `  round ${round} ${t.name.padEnd(34)} ${fmt(r.mbps).padStart(7)} Mbit/s  loss ${fmt(r.lossPercent, 2)}%  ` +
            `msgs ${r.received}/${r.sent}  CPU ${fmt(r.cpuSeconds, 2)} s (${fmt(r.cpuPercent, 0)} % of a core, ${fmt(r.cpuUsPerMessage, 1)} µs/msg)  RSS ${fmt(r.rssMb, 0)} MB`,
        );
      }
    }
    const c = best(results.get(coturn)!);
    const p = best(results.get(parley)!);
    console.log("best of rounds:");
    for (const [name, r] of [
      ["coturn", c],
      ["Parley", p],
    ] as const) {
      console.log(`  ${name.padEnd(8)} ${fmt(r.mbps)} Mbit/s, loss ${fmt(r.lossPercent, 2)}%, CPU ${fmt(r.cpuPercent, 0)} % of a core (${fmt(r.cpuUsPerMessage, 1)} µs/msg), RSS ${fmt(r.rssMb, 0)} MB`);
    }
    const ratio = c.mbps > 0 ? p.mbps / c.mbps : 0;
    console.log(`turn: ${fmt(p.mbps)} Mbit/s (${ratio.toFixed(2)}× coturn), loss ${fmt(p.lossPercent, 2)}%`);
  } finally {
    for (const t of targets) await t.stop();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  }
}

if (process.argv.includes("--serve")) {
  serve().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
