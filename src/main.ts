import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./log.js";
import { startServer } from "./server.js";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`parley: invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let running;
  try {
    running = await startServer(config, log);
  } catch (err) {
    process.stderr.write(`parley: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const { ctx } = running;
  if (config.generated.includes("PARLEY_API_KEY")) {
    // Printed once, on the start that created it; later starts reuse it from the data dir.
    process.stdout.write(
      `\nParley generated its secrets in ${config.dataDir}/secrets.json (mode 0600).\n` +
        `  API key (keep it safe, it is shown only this once): ${config.apiKey}\n\n`,
    );
  }
  process.stdout.write(`Parley ${ctx.version} is listening on ${config.publicUrl}  (docs: ${config.publicUrl}/docs)\n`);
  log.info({ port: running.port, dataDir: config.dataDir, turn: config.turn.mode }, "parley started");

  let signals = 0;
  const shutdown = (signal: string) => {
    if (++signals > 1) {
      log.warn({ signal }, "second signal: exiting at once");
      process.exit(1);
    }
    log.info({ signal }, "shutting down");
    const hard = setTimeout(() => {
      log.error("shutdown took longer than 10 s; exiting");
      process.exit(1);
    }, 10_000);
    hard.unref();
    running.stop().then(
      () => {
        log.info("stopped cleanly");
        process.exit(0);
      },
      (err) => {
        log.error({ err }, "error during shutdown");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

void main();
