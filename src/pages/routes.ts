import { upgradeWebSocket } from "@hono/node-server";
import { Hono, type Context } from "hono";
import { authenticateParticipant } from "../auth/participant.js";
import type { AppContext } from "../context.js";
import { HttpProblem } from "../http/problem.js";
import type { CapabilityFactory } from "../server.js";
import { turnUris } from "../turn/credentials.js";
import { contentType, readPublicAsset, safeAssetPath } from "./assets.js";

/**
 * The call page: `GET /join/:roomId[?token=]` serves one HTML shell with what
 * the page needs to show the right first screen (room state, a token problem,
 * guest admission) embedded as JSON; `/app/*` serves the bundles.
 */
export function pagesRoutes(ctx: AppContext): Hono {
  const app = new Hono();
  const dataDir = ctx.config.dataDir;

  app.get("/join/:roomId", async (c) => {
    const roomId = c.req.param("roomId");
    const template = await readPublicAsset(dataDir, "join.html");
    const bundle = await readPublicAsset(dataDir, "app/call.js");
    const styles = await readPublicAsset(dataDir, "app/call.css");
    if (!template || !bundle) {
      throw new HttpProblem(503, "client_not_built", "The call page is not built; run `npm run build:client` (npm install does it).");
    }
    const room = ctx.rooms.get(roomId);
    const token = c.req.query("token");
    let tokenError: { code: string; detail: string } | null = null;
    let status: 200 | 401 | 403 | 404 | 410 = room ? (room.status === "ended" ? 410 : 200) : 404;
    if (room && token) {
      try {
        authenticateParticipant(ctx, token, roomId);
      } catch (err) {
        if (!(err instanceof HttpProblem)) throw err;
        tokenError = { code: err.code, detail: err.detail };
        status = [401, 403, 404, 410].includes(err.status) ? (err.status as typeof status) : 403;
      }
    }
    const turnMode = ctx.config.turn.mode;
    const boot = {
      roomId,
      orgName: ctx.config.mail.orgName,
      room: {
        exists: Boolean(room),
        title: room?.title ?? null,
        status: room?.status ?? null,
        allowGuests: Boolean(room?.allowGuests),
        waitingRoom: Boolean(room?.waitingRoom),
      },
      tokenError,
      // STUN URIs carry no secret; TURN credentials are only issued to admitted participants.
      stunUrls: turnMode === "off" ? [] : turnUris(ctx.config).filter((u) => u.startsWith("stun")),
      turnMode,
    };
    const title = `${room?.title ?? "Video call"} · ${ctx.config.mail.orgName}`;
    const html = new TextDecoder()
      .decode(template.body)
      .replaceAll("__TITLE__", escapeHtml(title))
      .replace("__BOOT__", () => jsonForScript(boot))
      .replaceAll("__JS__", `/app/call.js?v=${bundle.version}`)
      .replaceAll("__CSS__", `/app/call.css?v=${styles?.version ?? "0"}`);
    // The URL may carry a token: never cache the page, never leak the URL onwards.
    c.header("Cache-Control", "no-store");
    c.header("Referrer-Policy", "no-referrer");
    return c.html(html, status);
  });

  app.get("/app/*", async (c) => {
    const rel = safeAssetPath(c.req.path.slice("/app/".length));
    const asset = rel ? await readPublicAsset(dataDir, `app/${rel}`) : undefined;
    if (!rel || !asset) throw new HttpProblem(404, "not_found", `No asset ${c.req.path}.`);
    return sendAsset(c, rel, asset);
  });

  // Static files at the top of public/ (icons, robots.txt).
  for (const name of ["favicon.svg", "robots.txt"]) {
    app.get(`/${name}`, async (c) => {
      const asset = await readPublicAsset(dataDir, name);
      if (!asset) throw new HttpProblem(404, "not_found", `No asset /${name}.`);
      return sendAsset(c, name, asset);
    });
  }

  // Lets the pre-join check tell "WebSockets work here" from "only long-poll will":
  // it opens, says ok, closes. Joins nothing, needs no token.
  app.get(
    "/ws-probe",
    upgradeWebSocket(() => ({
      onOpen(_evt, ws) {
        ws.send("ok");
        ws.close(1000, "probe");
      },
    })),
  );

  return app;
}

function sendAsset(c: Context, rel: string, asset: { body: Uint8Array; etag: string; version: string }) {
  // Versioned URLs (the page links `?v=<hash>`) never change: cache for a year.
  // Anything else revalidates with the ETag.
  const versioned = c.req.query("v") === asset.version;
  c.header("Cache-Control", versioned ? "public, max-age=31536000, immutable" : "no-cache");
  c.header("ETag", asset.etag);
  c.header("Content-Type", contentType(rel));
  c.header("X-Content-Type-Options", "nosniff");
  const inm = c.req.header("if-none-match");
  if (inm && inm.split(",").some((t) => t.trim() === asset.etag)) return c.body(null, 304);
  return c.body(asset.body as Uint8Array<ArrayBuffer>, 200);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** JSON inside <script>: `<` escaped so a title like "</script>" cannot end the element. */
function jsonForScript(v: unknown): string {
  return JSON.stringify(v).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

export const pagesCapability: CapabilityFactory = () => ({ name: "pages", routes: pagesRoutes });
