import { Hono } from "hono";
import { z } from "zod";
import type { AppContext } from "../context.js";
import { HttpProblem } from "../http/problem.js";
import { defineRoute, openApiDocument } from "../http/route.js";

const health = z.object({
  status: z.literal("ok"),
  version: z.string(),
  uptime: z.number(),
  activeRooms: z.number(),
  connections: z.number(),
});

export function opsRoutes(ctx: AppContext): Hono {
  const app = new Hono();
  const tag = "Operations";

  // The port opens before the capabilities start (they attach to the server), so "listening" is not
  // "healthy": a health check that passed while the TURN relay was still binding, or while a stop is
  // draining calls, would send patients to a server that cannot take them.
  defineRoute(
    app,
    {
      method: "get",
      path: "/health",
      summary: "Liveness and a few live figures",
      tag,
      auth: "none",
      responses: { 200: { description: "Healthy", schema: health }, 503: "Starting or shutting down (problem code `starting` or `stopping`)" },
    },
    (c) => {
      if (ctx.phase === "starting") throw new HttpProblem(503, "starting", "Parley is still starting; try again in a moment.");
      if (ctx.phase === "stopping") throw new HttpProblem(503, "stopping", "Parley is shutting down.");
      return c.json({
        status: "ok" as const,
        version: ctx.version,
        uptime: Math.round((Date.now() - ctx.startedAt) / 1000),
        activeRooms: ctx.live.activeRooms(),
        connections: ctx.live.connections(),
      });
    },
  );

  defineRoute(app, { method: "get", path: "/metrics", summary: "Prometheus metrics", tag, auth: "none", responses: { 200: "Prometheus text format" } }, async (c) =>
    c.body(await ctx.metrics.registry.metrics(), 200, { "content-type": ctx.metrics.registry.contentType }),
  );

  defineRoute(app, { method: "get", path: "/openapi.json", summary: "This API's OpenAPI 3.1 description", tag, auth: "none", responses: { 200: "OpenAPI document" } }, (c) =>
    c.json(openApiDocument({ title: "Parley", version: ctx.version, serverUrl: ctx.config.publicUrl })),
  );

  // A self-contained page (no CDN: clinics run on closed networks) that renders the document.
  defineRoute(app, { method: "get", path: "/docs", summary: "Human-readable API reference", tag, auth: "none", responses: { 200: "HTML" } }, (c) => c.html(DOCS_HTML));

  return app;
}

const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Parley API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:0 auto;padding:1rem 1.5rem;color:#1b1f24}
h1{margin-bottom:0}.op{border:1px solid #d0d7de;border-radius:6px;margin:.5rem 0}
summary{cursor:pointer;padding:.5rem .75rem;display:flex;gap:.75rem;align-items:baseline}
.m{font:600 12px monospace;text-transform:uppercase;min-width:4.5em}.p{font-family:monospace}
.get{color:#0550ae}.post{color:#116329}.put{color:#8250df}.patch{color:#9a6700}.delete{color:#cf222e}
pre{background:#f6f8fa;padding:.75rem;overflow:auto;margin:0 .75rem .75rem;border-radius:4px;font-size:12px}
h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
</style></head><body>
<h1>Parley API</h1><p id="desc"></p><p>Raw document: <a href="/openapi.json">/openapi.json</a></p><main id="ops">Loading…</main>
<script>
fetch('/openapi.json').then(r=>r.json()).then(doc=>{
  document.getElementById('desc').textContent=doc.info.description+' Version '+doc.info.version+'.';
  const byTag={};
  for(const [path,ops] of Object.entries(doc.paths))for(const [m,op] of Object.entries(ops))(byTag[op.tags[0]]??=[]).push({path,m,op});
  const main=document.getElementById('ops');main.textContent='';
  for(const [tag,list] of Object.entries(byTag)){
    const h=document.createElement('h2');h.textContent=tag;main.append(h);
    for(const {path,m,op} of list){
      const d=document.createElement('details');d.className='op';
      const s=document.createElement('summary');
      const mm=document.createElement('span');mm.className='m '+m;mm.textContent=m;
      const pp=document.createElement('span');pp.className='p';pp.textContent=path;
      const tt=document.createElement('span');tt.textContent=op.summary;
      s.append(mm,pp,tt);d.append(s);
      const pre=document.createElement('pre');
      pre.textContent=JSON.stringify({security:op.security,parameters:op.parameters,requestBody:op.requestBody,responses:op.responses},null,2);
      d.append(pre);main.append(d);
    }
  }
});
</script></body></html>`;
