/**
 * The benchmark runs every server and the load generator in its own process
 * (pinned to its own core), so that the load generator's CPU never competes
 * with the server it measures. This file is the small request/response layer
 * over Node's IPC channel that the orchestrator (bench/signaling.ts) uses to
 * drive them, and the helper that spawns a pinned child.
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from "node:child_process";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";

interface Request {
  id: number;
  cmd: string;
  arg: unknown;
}
type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Handlers = Record<string, (arg: any) => unknown>;

/** Child side: answers the orchestrator's requests with `handlers[cmd](arg)`. */
export function serveRequests(handlers: Handlers, onOrphaned: () => unknown = () => undefined): void {
  if (!process.send) throw new Error("this file is started by bench/signaling.ts (it needs an IPC channel)");
  process.on("message", (raw: unknown) => {
    const req = raw as Request;
    const reply = (r: Reply, after?: () => void) => process.send!(r, undefined, {}, () => after?.());
    void (async () => {
      try {
        const handler = handlers[req.cmd];
        if (!handler) throw new Error(`unknown command ${req.cmd}`);
        reply({ id: req.id, ok: true, result: await handler(req.arg) }, req.cmd === "exit" ? () => process.exit(0) : undefined);
      } catch (err) {
        reply({ id: req.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      }
    })();
  });
  // The orchestrator died (Ctrl-C, crash): clean up and never outlive it.
  process.on("disconnect", () => {
    const hard = setTimeout(() => process.exit(1), 10_000);
    hard.unref();
    void Promise.resolve()
      .then(onOrphaned)
      .finally(() => process.exit(0));
  });
}

/** Orchestrator side: one child process and its pending requests. */
export class Remote {
  private nextId = 1;
  private pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private exited = false;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on("message", (raw: unknown) => {
      const r = raw as Reply;
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r.result);
      else p.reject(new Error(`${name}: ${r.error}`));
    });
    child.on("exit", (code, signal) => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error(`${name} exited (code ${code}, signal ${signal})`));
      this.pending.clear();
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  call<T>(cmd: string, arg?: unknown, timeoutMs = 60_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: "${cmd}" took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ id, cmd, arg } satisfies Request);
    });
  }

  /** Asks the child to exit cleanly (so `--cpu-prof` gets written); kills it if it does not within `ms`. */
  async exit(ms = 15_000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    await this.call("exit", undefined, ms).catch(() => undefined);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), ms);
    await gone;
    clearTimeout(timer);
  }
}

const pinning = availableParallelism() >= 2 && spawnSync("taskset", ["-V"], { stdio: "ignore" }).status === 0;

/** Whether children are pinned to cores (needs 2+ cores and `taskset`). */
export const pinned = pinning;

/**
 * Spawns `node [nodeArgs] --import tsx <file>` pinned to `core` with
 * `taskset -c` (the scheduler otherwise moves server and load generator onto
 * the same core and both figures get worse in ways that do not repeat).
 */
export function spawnPinned(name: string, core: number, file: string, opts: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv; stdio?: StdioOptions } = {}): Remote {
  const script = fileURLToPath(new URL(file, import.meta.url));
  const nodeArgs = ["--expose-gc", ...(opts.nodeArgs ?? []), "--import", "tsx", script];
  let [cmd, args] = pinning ? ["taskset", ["-c", String(core), process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
  // BENCH_NICE=-10 (needs root): on a machine busy with other work, the measured processes still get their core.
  const nice = process.env.BENCH_NICE;
  const renice = nice !== undefined && /^-?\d{1,2}$/.test(nice);
  if (renice) [cmd, args] = ["nice", ["-n", nice, cmd, ...args]];
  const child = spawn(cmd, args, {
    env: { ...process.env, ...opts.env },
    stdio: opts.stdio ?? ["ignore", "inherit", "inherit", "ipc"],
    // Its own session, so that (with the kernel's autogroup scheduling) its nice value counts against other sessions too.
    detached: renice,
  });
  if (renice && child.pid) {
    try {
      writeFileSync(`/proc/${child.pid}/autogroup`, nice);
    } catch {
      // No autogroup scheduling (or not allowed): the plain nice value above still applies.
    }
  }
  return new Remote(name, child);
}

/** Child side: tells the orchestrator it has started, with what it needs to know (port, keys). */
export function announceReady(info: unknown): void {
  process.send!({ ready: info });
}

/** Waits for the child's `announceReady` (requests sent before it would be lost). */
export function waitReady<T>(remote: Remote, timeoutMs = 60_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${remote.name} did not start within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: unknown) => {
      if (m && typeof m === "object" && "ready" in m) {
        clearTimeout(timer);
        remote.child.off("message", onMessage);
        remote.child.off("exit", onExit);
        resolve((m as { ready: T }).ready);
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${remote.name} exited with code ${code} while starting`));
    };
    remote.child.on("message", onMessage);
    remote.child.once("exit", onExit);
  });
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
}
export interface CpuSample {
  user: number;
  system: number;
}

/**
 * What every benchmarked server answers besides its own commands: its
 * memory after a full GC (so idle-connection figures do not depend on when
 * V8 last collected) and its CPU time so far (for CPU per relayed message).
 */
export function probeHandlers(): Handlers {
  return {
    async mem(): Promise<MemorySample> {
      for (let i = 0; i < 3; i++) {
        (globalThis as { gc?: () => void }).gc?.();
        await new Promise((r) => setTimeout(r, 100));
      }
      const m = process.memoryUsage();
      return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
    },
    cpu(): CpuSample {
      return process.cpuUsage();
    },
    /** V8 CPU profile of this process over the phases the orchestrator chooses (not start-up, not set-up). */
    async profileStart(): Promise<void> {
      profiler ??= new Session();
      profiler.connect();
      await profiler.post("Profiler.enable");
      await profiler.post("Profiler.setSamplingInterval", { interval: 200 });
      await profiler.post("Profiler.start");
    },
    async profileStop(file: string): Promise<string> {
      if (!profiler) throw new Error("no profile running");
      const { profile } = await profiler.post("Profiler.stop");
      profiler.disconnect();
      writeFileSync(file, JSON.stringify(profile));
      return file;
    },
  };
}

let profiler: Session | undefined;
