/**
 * Upload throughput of recording chunks: 200 MB in 1 MB chunks against
 * Parley (`PUT /api/recordings/:id/chunks/:index`: token check, SQLite
 * claim, hash, temp file + rename) and against a bare node:http server that
 * writes the same bytes to disk, in the same run. Each server runs in its
 * own process pinned to core 0 (`taskset`, when present); the uploader runs
 * here. Four recordings upload at once, each chunk after the previous one
 * (as browsers do), over keep-alive connections.
 *
 *   npm run bench:recordings  [-- --mb 200 --parallel 4 --rounds 2]
 *
 * Final line: `recordings: <MB/s> (<ratio>× bare http)`.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, request, Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const TOTAL_MB = opt("mb", 200);
const PARALLEL = opt("parallel", 4);
const ROUNDS = opt("rounds", 2);
const CHUNK = 1024 * 1024;

if (args[0] === "--serve-bare") serveBare();
else if (args[0] === "--serve-parley") await serveParley();
else await main();

/** The baseline: parse the path, stream the body into a file, answer 201. */
function serveBare(): void {
  const dir = mkdtempSync(join(tmpdir(), "bench-bare-"));
  const server = createServer((req, res) => {
    const m = /^\/upload\/([\w-]+)\/(\d+)$/.exec(req.url ?? "");
    if (req.method !== "PUT" || !m) {
      res.writeHead(404).end();
      return;
    }
    mkdirSync(join(dir, m[1]!), { recursive: true });
    const out = createWriteStream(join(dir, m[1]!, m[2]!));
    req.pipe(out);
    out.on("finish", () => {
      res.writeHead(201, { "content-type": "application/json" }).end('{"ok":true}');
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as { port: number }).port;
    process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${port}`, dataDir: dir }) + "\n");
  });
  process.on("SIGTERM", () => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
}

async function serveParley(): Promise<void> {
  const { loadConfig } = await import("../src/config.js");
  const { createLogger } = await import("../src/log.js");
  const { startServer } = await import("../src/server.js");
  const dataDir = mkdtempSync(join(tmpdir(), "bench-parley-"));
  const config = loadConfig({ PARLEY_PORT: "1", PARLEY_HOST: "127.0.0.1", PARLEY_DATA_DIR: dataDir, PARLEY_TURN: "off", PARLEY_LOG_LEVEL: "silent" });
  config.port = 0;
  const running = await startServer(config, createLogger("silent"));
  config.publicUrl = running.url;
  process.stdout.write(JSON.stringify({ url: running.url, apiKey: config.apiKey, dataDir }) + "\n");
  process.on("SIGTERM", async () => {
    await running.stop();
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  });
}

function startChild(mode: string): Promise<{ child: ChildProcess; info: { url: string; apiKey?: string } }> {
  const pin = spawnSync("taskset", ["--version"]).status === 0 ? ["taskset", "-c", "0"] : [];
  const cmd = [...pin, process.execPath, "--import", "tsx", fileURLToPath(import.meta.url), mode];
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve({ child, info: JSON.parse(buf.slice(0, nl)) });
    });
    child.once("exit", (code) => reject(new Error(`${mode} exited with ${code}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

interface Target {
  /** Path and headers of chunk `index` of upload `u`. */
  chunk(u: number, index: number): { path: string; headers: Record<string, string> };
}

function put(agent: Agent, base: URL, path: string, headers: Record<string, string>, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: base.hostname, port: base.port, method: "PUT", path, headers: { ...headers, "content-type": "application/octet-stream", "content-length": String(body.length) } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** `PARALLEL` uploads at once, each sending its chunks one after another. Returns MB/s. */
async function measure(url: string, target: Target, mb: number, body: Buffer): Promise<number> {
  const base = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: PARALLEL });
  const perUpload = Math.ceil(mb / PARALLEL);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: PARALLEL }, async (_, u) => {
      for (let i = 0; i < perUpload; i++) {
        const { path, headers } = target.chunk(u, i);
        const status = await put(agent, base, path, headers, body);
        if (status !== 201) throw new Error(`PUT ${path} answered ${status}`);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  return (perUpload * PARALLEL * body.length) / (1024 * 1024) / seconds;
}

async function parleyTarget(info: { url: string; apiKey?: string }, uploads: number): Promise<Target> {
  const api = async (path: string, init: { method: string; token?: string; json?: unknown }) => {
    const res = await fetch(info.url + path, {
      method: init.method,
      headers: { authorization: `Bearer ${init.token ?? info.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify(init.json ?? {}),
    });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const room = await api("/api/rooms", {
    method: "POST",
    json: { recording: { enabled: true, requireConsent: false }, maxParticipants: 50, participants: Array.from({ length: uploads }, (_, i) => ({ name: `P${i}`, role: "host" })) },
  });
  const recs: { token: string; id: string }[] = [];
  for (const p of room.participants as { token: string }[]) {
    const { recordingId } = await api("/api/recordings", { method: "POST", token: p.token, json: { mimeType: "video/webm" } });
    recs.push({ token: p.token, id: recordingId });
  }
  return { chunk: (u, i) => ({ path: `/api/recordings/${recs[u]!.id}/chunks/${i}`, headers: { authorization: `Bearer ${recs[u]!.token}` } }) };
}

async function main(): Promise<void> {
  const body = randomBytes(CHUNK);
  const results: { bare: number[]; parley: number[] } = { bare: [], parley: [] };
  console.log(`recordings bench: ${TOTAL_MB} MB in 1 MB chunks, ${PARALLEL} uploads at once, ${ROUNDS} round(s); servers pinned to core 0`);
  for (let round = 0; round < ROUNDS; round++) {
    {
      const { child, info } = await startChild("--serve-bare");
      let n = 0;
      const run = () => `r${round}-${n++}`;
      const mk = (): Target => {
        const id = run();
        return { chunk: (u, i) => ({ path: `/upload/${id}-${u}/${i}`, headers: {} }) };
      };
      await measure(info.url, mk(), 16, body); // warm-up
      const mbps = await measure(info.url, mk(), TOTAL_MB, body);
      results.bare.push(mbps);
      console.log(`  round ${round + 1} bare http: ${mbps.toFixed(1)} MB/s`);
      await stopChild(child);
    }
    {
      const { child, info } = await startChild("--serve-parley");
      await measure(info.url, await parleyTarget(info, PARALLEL), 16, body); // warm-up (JIT, SQLite pages)
      const mbps = await measure(info.url, await parleyTarget(info, PARALLEL), TOTAL_MB, body);
      results.parley.push(mbps);
      console.log(`  round ${round + 1} parley:    ${mbps.toFixed(1)} MB/s`);
      await stopChild(child);
    }
  }
  const best = (xs: number[]) => Math.max(...xs);
  const parley = best(results.parley);
  const bare = best(results.bare);
  console.log(`  best of ${ROUNDS}: parley ${parley.toFixed(1)} MB/s, bare http ${bare.toFixed(1)} MB/s`);
  console.log(`recordings: ${parley.toFixed(1)} MB/s (${(parley / bare).toFixed(2)}× bare http)`);
}
