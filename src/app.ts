import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import type { AppContext } from "./context.js";
import { HttpProblem, problem } from "./http/problem.js";
import { opsRoutes } from "./ops/routes.js";
import { roomRoutes } from "./rooms/routes.js";

/** Named limits (see README "Limits"). Recording chunks have their own, larger limit in their routes. */
export const JSON_BODY_LIMIT = 1024 * 1024;

/** Extra route modules a capability adds (signaling, TURN, recordings, …), mounted after the core. */
export type RouteModule = (ctx: AppContext) => Hono;

/** The Hono app: cross-cutting middleware, then one route module per capability. */
export function createApp(ctx: AppContext, modules: RouteModule[] = []): Hono {
  const app = new Hono();

  app.use(requestId());
  app.use(accessLog(ctx));
  app.use(
    secureHeaders({
      // The call page needs its own scripts, camera/microphone, blobs for recordings and WebSockets back to us.
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", "'unsafe-inline'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", "data:", "blob:"],
        mediaSrc: ["'self'", "blob:", "mediastream:"],
        connectSrc: ["'self'", "ws:", "wss:"],
        frameAncestors: ["'none'"],
      },
      permissionsPolicy: { camera: ["self"], microphone: ["self"], displayCapture: ["self"], speakerSelection: ["self"] },
      crossOriginEmbedderPolicy: false,
    }),
  );
  app.use(
    "/api/*",
    cors({
      origin: ctx.config.corsOrigins === "*" ? "*" : ctx.config.corsOrigins,
      allowHeaders: ["Authorization", "Content-Type", "X-Chunk-Sha256", "Range"],
      allowMethods: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
      exposeHeaders: ["Content-Range", "Accept-Ranges", "X-Request-Id"],
      maxAge: 600,
    }),
  );
  app.use("*", async (c, next) => {
    // Chunk uploads are raw bytes with their own limit; everything else is small JSON.
    if (c.req.method === "PUT" && c.req.path.includes("/chunks/")) return next();
    return jsonLimit(c, next);
  });

  app.route("/", opsRoutes(ctx));
  app.route("/", roomRoutes(ctx));
  for (const m of modules) app.route("/", m(ctx));

  app.notFound((c) => problem(c, new HttpProblem(404, "not_found", `No route for ${c.req.method} ${c.req.path}.`)));
  app.onError((err, c) => {
    if (err instanceof HttpProblem) return problem(c, err);
    if (err instanceof HTTPException) {
      const status = err.status as 400 | 413;
      return problem(c, new HttpProblem(status, status === 413 ? "body_too_large" : "http_error", err.message || "Request refused."));
    }
    ctx.log.error({ err, reqId: c.get("requestId"), path: c.req.path }, "unhandled error");
    return problem(c, new HttpProblem(500, "internal_error", "Something went wrong on the server; the error was logged."));
  });
  return app;
}

const jsonLimit = bodyLimit({
  maxSize: JSON_BODY_LIMIT,
  onError: () => {
    throw new HttpProblem(413, "body_too_large", `Request bodies are limited to ${JSON_BODY_LIMIT} bytes.`);
  },
});

/** One line per request: never the query string (tokens travel there) nor headers. */
function accessLog(ctx: AppContext): MiddlewareHandler {
  return async (c, next) => {
    const start = performance.now();
    await next();
    const ms = performance.now() - start;
    const route = c.req.routePath ?? "unmatched";
    ctx.metrics.httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
    ctx.metrics.httpDuration.observe({ method: c.req.method, route }, ms / 1000);
    const level = c.req.path === "/health" || c.req.path === "/metrics" ? "debug" : c.res.status >= 500 ? "error" : "info";
    ctx.log[level]({ reqId: c.get("requestId"), method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(ms * 10) / 10 }, "request");
  };
}
