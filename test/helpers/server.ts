import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { startServer, type CapabilityFactory, type RunningServer } from "../../src/server.js";

export interface TestServer {
  url: string;
  wsUrl: string;
  port: number;
  dataDir: string;
  apiKey: string;
  jwtSecret: string;
  running: RunningServer;
  /** Stops the server (keeps the data dir). */
  stop(): Promise<void>;
  /** Stops and starts again on the same data dir and port. */
  restart(env?: Record<string, string>): Promise<TestServer>;
  /** Stops and removes the data dir. */
  close(): Promise<void>;
  /** fetch against the server with the API key. */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
}

export function tempDir(prefix = "parley-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Starts the real server in this process on a random port with a fresh data
 * dir. `PARLEY_TEST_LOG=debug` shows its logs; `opts.logLines` collects them.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  opts: { dataDir?: string; port?: number; extra?: CapabilityFactory[]; logLines?: string[] } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? tempDir();
  const config = loadConfig({
    PARLEY_PORT: String(opts.port ?? 1),
    PARLEY_HOST: "127.0.0.1",
    PARLEY_DATA_DIR: dataDir,
    PARLEY_TURN: "off",
    PARLEY_LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? "silent",
    ...env,
  });
  // Port 0 is not a valid PARLEY_PORT for people; tests ask the OS for a free one.
  if (!opts.port && !env.PARLEY_PORT) config.port = 0;
  const lines = opts.logLines;
  const destination = lines ? { write: (line: string) => void lines.push(line) } : undefined;
  const running = await startServer(config, createLogger(config.logLevel, destination), { extra: opts.extra });
  if (!env.PARLEY_PUBLIC_URL) config.publicUrl = running.url;
  const url = running.url;
  const self: TestServer = {
    url,
    wsUrl: url.replace(/^http/, "ws"),
    port: running.port,
    dataDir,
    apiKey: config.apiKey,
    jwtSecret: config.jwtSecret,
    running,
    stop: () => running.stop(),
    async restart(moreEnv = {}) {
      await running.stop();
      return startTestServer({ ...env, ...moreEnv }, { ...opts, dataDir, port: running.port });
    },
    async close() {
      await running.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
    api(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has("authorization")) headers.set("authorization", `Bearer ${config.apiKey}`);
      let body = init.body;
      if (init.json !== undefined) {
        headers.set("content-type", "application/json");
        body = JSON.stringify(init.json);
      }
      return fetch(url + path, { ...init, headers, body });
    },
  };
  return self;
}

/** Creates a room through the API and returns its JSON (participants carry tokens). */
export async function createRoom(s: TestServer, body: Record<string, unknown> = {}) {
  const res = await s.api("/api/rooms", { method: "POST", json: body });
  if (res.status !== 201) throw new Error(`create room: ${res.status} ${await res.text()}`);
  return (await res.json()) as {
    roomId: string;
    sessionId: string;
    participants: { id: string; name: string; role: string; token: string; joinUrl: string }[];
    [k: string]: unknown;
  };
}
