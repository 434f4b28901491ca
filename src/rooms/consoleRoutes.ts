import { Hono } from "hono";
import type { AppContext } from "../context.js";
import { HttpProblem } from "../http/problem.js";
import { readPublicAsset } from "../pages/assets.js";
import type { Capability } from "../server.js";

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/**
 * `GET /console`: the staff console shell. The page itself holds no secret;
 * everything it shows comes from the management API with the key the person
 * types in, so serving it without auth is safe.
 */
function consoleRoutes(ctx: AppContext): Hono {
  const app = new Hono();
  app.get("/console", async (c) => {
    const template = await readPublicAsset(ctx.config.dataDir, "console.html");
    const js = await readPublicAsset(ctx.config.dataDir, "app/console.js");
    const css = await readPublicAsset(ctx.config.dataDir, "app/console.css");
    if (!template || !js) throw new HttpProblem(503, "client_not_built", "The console is not built; run `npm run build:client` (npm install does it).");
    const html = new TextDecoder()
      .decode(template.body)
      .replaceAll("__ORG__", esc(ctx.config.mail.orgName))
      .replaceAll("__JS__", `/app/console.js?v=${js.version}`)
      .replaceAll("__CSS__", `/app/console.css?v=${css?.version ?? "0"}`);
    c.header("Cache-Control", "no-store");
    c.header("Referrer-Policy", "no-referrer");
    return c.html(html);
  });
  return app;
}

export function consoleCapability(_ctx: AppContext): Capability {
  return { name: "console", routes: consoleRoutes };
}
