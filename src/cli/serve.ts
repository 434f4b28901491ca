import { loadConfig } from "../config.js";
import { createLogger, type Logger } from "../log.js";
import { startServer, type RunningServer } from "../server.js";
import { machineNames } from "../tls/selfSigned.js";

/** `parley` / `parley serve`: start, print the key once and the URL, stop cleanly on SIGTERM/SIGINT, reload TLS on SIGHUP. */
export async function serve(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  const startup = startServer(config, log);
  // Signals are handled from the first moment: the port is open (/health says 503 "starting")
  // while capabilities are still starting, and a SIGTERM then (systemd, a supervisor, a test)
  // must still stop cleanly.
  installShutdown(log, startup);
  let running;
  try {
    running = await startup;
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
  if (running.tls) process.stdout.write(running.tls.notice + "\n");
  if (config.tls.mode === "self-signed" && !process.env.PARLEY_PUBLIC_URL) {
    // TLS for a LAN is pointless if the join links still say localhost.
    const { dns, ips } = machineNames();
    const lan = [...dns.filter((d) => d.endsWith(".local")), ...ips.filter((ip) => ip.includes(".") && !ip.startsWith("127."))][0];
    if (lan) process.stdout.write(`  Join links say localhost: set PARLEY_PUBLIC_URL=https://${lan}:${config.port} so they work from other machines.\n`);
  }
  process.stdout.write(`Parley ${ctx.version} is listening on ${config.publicUrl}  (docs: ${config.publicUrl}/docs)\n`);
  log.info({ port: running.port, dataDir: config.dataDir, turn: config.turn.mode, tls: config.tls.mode }, "parley started");

  // SIGHUP re-reads the certificate (certbot renewals, systemctl reload); calls in progress keep their connections.
  process.on("SIGHUP", () => {
    if (!running.tls) {
      log.info("SIGHUP: TLS is off, nothing to reload");
      return;
    }
    try {
      const tls = running.reloadTls()!;
      log.info({ validTo: tls.validTo, fingerprint: tls.fingerprint }, "TLS certificate reloaded");
    } catch (err) {
      // Keep serving the old certificate rather than stop: a half-copied renewal must not take the clinic down.
      log.error({ err: (err as Error).message }, "TLS reload failed; still serving the previous certificate");
    }
  });
}

function installShutdown(log: Logger, startup: Promise<RunningServer>): void {
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
    startup.then((running) => running.stop()).then(
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
