import { createAdaptorServer } from "@hono/node-server";
import type { Server } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import { createApp, type RouteModule } from "./app.js";
import type { Config } from "./config.js";
import { createContext, markAlive, type AppContext } from "./context.js";
import type { Logger } from "./log.js";
import { loadTls, type TlsMaterial } from "./tls/load.js";
import { redirectPlainHttp } from "./tls/plainHttp.js";

/** Upper bound of one WebSocket frame (an SDP with many tracks fits easily). */
export const MAX_WS_FRAME = 64 * 1024;
const SHUTDOWN_GRACE_MS = 8000;
/**
 * How often `.alive` is touched (and overdue rooms are swept). After a crash, open attendance is closed
 * at the last touch, so this bounds the attendance a crash can lose; a utimes every 5 s costs nothing.
 */
const MAINTENANCE_INTERVAL_MS = 5_000;

/**
 * A capability plugs into the server here: its routes, what it starts once
 * the server listens (relay sockets, job runners) and what it stops before
 * the database closes. Adding one is one line in `capabilities()`.
 */
export interface Capability {
  name: string;
  routes?: RouteModule;
  start?(env: { ctx: AppContext; server: Server; wss: WebSocketServer }): void | Promise<void>;
  stop?(): void | Promise<void>;
}

export type CapabilityFactory = (ctx: AppContext) => Capability;

/** Every capability of the product, in start order. */
async function capabilities(): Promise<CapabilityFactory[]> {
  return [
    (await import("./invites/routes.js")).invitesCapability,
    (await import("./rtms/index.js")).rtmsCapability(),
    (await import("./events/routes.js")).eventsCapability,
    (await import("./rooms/consoleRoutes.js")).consoleCapability,
    (await import("./rooms/summaryRoutes.js")).summariesCapability,
    (await import("./audit/routes.js")).auditCapability,
    (await import("./turn/capability.js")).turnCapability,
    (await import("./signaling/capability.js")).signaling,
    (await import("./recordings/capability.js")).recordingsCapability,
    (await import("./pages/routes.js")).pagesCapability,
  ];
}

/** Ends active rooms that ran past their `maxDuration` (reason "timeout"); checked periodically, so it holds across restarts. */
export function endOverdueRooms(ctx: AppContext): string[] {
  const ended: string[] = [];
  for (const room of ctx.rooms.overdue()) {
    try {
      ctx.rooms.end(room.id, "timeout", "system");
      ended.push(room.id);
    } catch (err) {
      ctx.log.warn({ err, roomId: room.id }, "could not end an overdue room");
    }
  }
  return ended;
}

export interface RunningServer {
  ctx: AppContext;
  server: Server;
  url: string;
  port: number;
  /** The certificate served now (PARLEY_TLS_CERT/KEY or PARLEY_TLS=self-signed), undefined for plain http. */
  readonly tls?: TlsMaterial;
  /** SIGHUP: read the certificate again. Open connections (calls in progress) keep theirs; new ones get the new one. */
  reloadTls(): TlsMaterial | undefined;
  stop(): Promise<void>;
}

export async function startServer(config: Config, log: Logger, opts: { migrationsFolder?: string; extra?: CapabilityFactory[] } = {}): Promise<RunningServer> {
  // Before anything opens: a bad certificate stops start-up with one line naming the variable.
  let tls = loadTls(config);
  const ctx = createContext(config, log, opts.migrationsFolder);
  const all = [...(await capabilities()), ...(opts.extra ?? [])].map((f) => f(ctx));
  // An extra capability replaces the built-in one of the same name (tests: RTMS with its simulator).
  const caps = all.filter((c, i) => !all.slice(i + 1).some((later) => later.name === c.name));
  const app = createApp(
    ctx,
    caps.flatMap((c) => (c.routes ? [c.routes] : [])),
  );
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WS_FRAME, perMessageDeflate: false });
  // Browsers give camera and microphone only to https pages (or localhost): with TLS on, HTTPS and WSS share PARLEY_PORT.
  const server = (
    tls
      ? createAdaptorServer({ fetch: app.fetch, websocket: { server: wss }, createServer: createHttpsServer, serverOptions: { key: tls.key, cert: tls.cert } })
      : createAdaptorServer({ fetch: app.fetch, websocket: { server: wss } })
  ) as Server;
  if (tls) redirectPlainHttp(server as unknown as HttpsServer, config.publicUrl);
  server.keepAliveTimeout = 65_000;
  // Long-polls hold a request for up to 30 s; leave room above that.
  server.requestTimeout = 120_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === "EADDRINUSE"
          ? new Error(`PARLEY_PORT: port ${config.port} on ${config.host} is already in use; stop the other program or choose another port`)
          : err.code === "EACCES"
            ? new Error(`PARLEY_PORT: not allowed to listen on port ${config.port}; use a port above 1023 or run with the needed privilege`)
            : err,
      );
    };
    server.once("error", onError);
    server.listen(config.port, config.host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const started: Capability[] = [];
  try {
    for (const c of caps) {
      const t0 = performance.now();
      await c.start?.({ ctx, server, wss });
      started.push(c);
      log.debug({ capability: c.name, ms: Math.round(performance.now() - t0) }, "capability started");
    }
  } catch (err) {
    for (const c of started.reverse()) await c.stop?.();
    server.close();
    ctx.attendance.stop();
    ctx.database.close();
    throw err;
  }

  ctx.phase = "ready";
  markAlive(config.dataDir);
  const maintenance = setInterval(() => {
    markAlive(config.dataDir);
    endOverdueRooms(ctx);
  }, MAINTENANCE_INTERVAL_MS);
  maintenance.unref();

  const port = (server.address() as AddressInfo).port;
  const url = `${tls ? "https" : "http"}://${config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host}:${port}`;
  let stopping: Promise<void> | undefined;

  /**
   * Stop accepting, let in-flight requests finish, close sockets with 1001,
   * stop capabilities, flush attendance, close SQLite. Bounded: whatever is
   * still open after the grace period is cut.
   */
  const stop = () =>
    (stopping ??= (async () => {
      ctx.phase = "stopping";
      clearInterval(maintenance);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      for (const c of [...caps].reverse()) {
        try {
          await c.stop?.();
        } catch (err) {
          log.warn({ err, capability: c.name }, "capability did not stop cleanly");
        }
      }
      for (const ws of wss.clients) ws.close(1001, "server shutting down");
      const timer = setTimeout(() => {
        server.closeAllConnections();
        for (const ws of wss.clients) ws.terminate();
      }, SHUTDOWN_GRACE_MS);
      await closed;
      clearTimeout(timer);
      wss.close();
      ctx.attendance.stop();
      // Everyone's span was closed by the sockets closing above; a clean stop is "alive" until now.
      markAlive(config.dataDir);
      ctx.database.close();
    })());

  const reloadTls = () => {
    if (!tls) return undefined;
    const next = loadTls(config)!;
    (server as unknown as HttpsServer).setSecureContext({ key: next.key, cert: next.cert });
    tls = next;
    return next;
  };

  return {
    ctx,
    server,
    url,
    port,
    get tls() {
      return tls;
    },
    reloadTls,
    stop,
  };
}
