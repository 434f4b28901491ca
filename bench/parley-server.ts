/**
 * The real Parley server (src/server.ts startServer, every capability) in a
 * child process of the signaling benchmark, on a fresh data dir that is
 * removed on exit. Extra PARLEY_* variables come from the orchestrator's
 * environment. Logs go to stdout, which the orchestrator sends to a file.
 *
 * IPC: mem, cpu, exit (see bench/ipc.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/log.js";
import { startServer } from "../src/server.js";
import { announceReady, probeHandlers, serveRequests } from "./ipc.js";

const dataDir = mkdtempSync(join(tmpdir(), "parley-bench-"));
const config = loadConfig({
  PARLEY_LOG_LEVEL: "info",
  ...process.env,
  PARLEY_PORT: "1",
  PARLEY_HOST: "127.0.0.1",
  PARLEY_DATA_DIR: dataDir,
  PARLEY_TURN: "off",
});
// Any free port (0 is not a valid PARLEY_PORT for people).
config.port = 0;
const running = await startServer(config, createLogger(config.logLevel));
config.publicUrl = running.url;

async function stop(): Promise<void> {
  await running.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

serveRequests({ ...probeHandlers(), exit: stop }, stop);
announceReady({ url: running.url, apiKey: config.apiKey, jwtSecret: config.jwtSecret });
