import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { copyFileSync, existsSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { tempDir } from "./helpers/server.js";

/**
 * The single executable, as a clinic gets it: built once for the suite,
 * copied alone into an empty folder, run with nothing but a port and a data dir.
 */

function freePort(kind: "tcp" | "udp"): Promise<number> {
  return new Promise((resolve) => {
    if (kind === "udp") {
      const s = createSocket("udp4");
      s.bind(0, () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
      return;
    }
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

interface Run {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
  /** ms from spawn to the first 200 from /health. */
  healthyAfterMs: number;
}

async function start(dir: string, env: Record<string, string>, port: number): Promise<Run> {
  const t0 = performance.now();
  const child = spawn(join(dir, "parley"), [], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`parley exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) throw new Error(`not healthy within 30 s:\n${out}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      if (res.status === 200) break;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const healthyAfterMs = performance.now() - t0;
  // The console lines come right after listening; give stdout a moment to arrive.
  for (let i = 0; i < 200 && !/is listening on/.test(out); i++) await new Promise((r) => setTimeout(r, 10));
  return { child, out: () => out, exited, healthyAfterMs };
}

async function stop(run: Run): Promise<{ code: number | null; ms: number }> {
  const t0 = Date.now();
  run.child.kill("SIGTERM");
  const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 10_000).unref());
  const code = await Promise.race([run.exited, timeout]);
  if (code === "timeout") {
    run.child.kill("SIGKILL");
    throw new Error(`no exit within 10 s of SIGTERM:\n${run.out()}`);
  }
  return { code, ms: Date.now() - t0 };
}

function stunAnswer(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    const req = Buffer.alloc(20);
    req.writeUInt16BE(0x0001, 0);
    req.writeUInt32BE(0x2112a442, 4);
    req.fill(7, 8);
    const timer = setTimeout(() => {
      s.close();
      resolve(false);
    }, 3000);
    s.on("message", (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m.readUInt16BE(0) === 0x0101);
    });
    s.send(req, port, "127.0.0.1");
  });
}

describe("single executable", () => {
  let binary: string;
  let dir: string;
  const runs: Run[] = [];
  before(() => {
    const r = spawnSync(process.execPath, ["scripts/build-binary.mjs"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    binary = "dist/parley";
    console.log(`# ${r.stdout.trim()}`);
    dir = tempDir("parley-binary-");
    copyFileSync(binary, join(dir, "parley"));
    spawnSync("chmod", ["755", join(dir, "parley")]);
  });
  after(() => {
    for (const r of runs) if (r.child.exitCode === null) r.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("copied alone into an empty folder, runs, serves a call, stops cleanly and keeps its data", async () => {
    assert.deepEqual(readdirSync(dir), ["parley"]);
    const sizeMb = statSync(join(dir, "parley")).size / 1024 / 1024;
    const port = await freePort("tcp");
    const turnPort = await freePort("udp");
    const env = { PARLEY_PORT: String(port), PARLEY_DATA_DIR: "data", PARLEY_TURN_PORT: String(turnPort) };

    const first = await start(dir, env, port);
    runs.push(first);
    console.log(`# size ${sizeMb.toFixed(1)} MB, start to healthy ${first.healthyAfterMs.toFixed(0)} ms (first start, extracting the cache)`);
    const apiKey = first.out().match(/API key \(keep it safe, it is shown only this once\): (\S+)/)?.[1];
    assert.ok(apiKey, `the API key is printed on the first start:\n${first.out()}`);
    assert.match(first.out(), new RegExp(`is listening on http://localhost:${port}`));

    // The database, the generated secrets and the extracted, hash-named addon are in the data dir.
    const dataDir = join(dir, "data");
    assert.ok(existsSync(join(dataDir, "parley.sqlite")), "SQLite file");
    const secrets = readFileSync(join(dataDir, "secrets.json"), "utf8");
    assert.equal(statSync(join(dataDir, "secrets.json")).mode & 0o777, 0o600);
    const [cache] = readdirSync(join(dataDir, ".cache"));
    assert.ok(cache && existsSync(join(dataDir, ".cache", cache, "better_sqlite3.node")));

    const api = (path: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${port}${path}`, { ...init, headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json", ...init.headers } });
    const created = await api("/api/rooms", { method: "POST", body: JSON.stringify({ title: "From the binary", participants: [{ name: "Dr. Lee", role: "host" }, { name: "Sam" }] }) });
    assert.equal(created.status, 201);
    const room = (await created.json()) as { roomId: string; participants: { token: string; id: string }[] };

    // Join over WebSocket: the first frame is the welcome, with the embedded relay in its ICE servers.
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${room.participants[0]!.token}`);
    const welcome = await new Promise<{ type: string; data: { iceServers?: { urls: string | string[] }[] } }>((resolve, reject) => {
      ws.once("message", (d) => resolve(JSON.parse(String(d))));
      ws.once("error", reject);
    });
    assert.equal(welcome.type, "welcome");
    assert.ok(JSON.stringify(welcome.data.iceServers).includes(`:${turnPort}`), JSON.stringify(welcome.data.iceServers));
    // The embedded TURN relay (node-turn, bundled with its patches) answers on its UDP port.
    assert.equal(await stunAnswer(turnPort), true);
    // Static files come from the assets embedded in the executable.
    const page = await fetch(`http://127.0.0.1:${port}/join/${room.roomId}?token=${room.participants[1]!.token}`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    const status = await (await api(`/api/rooms/${room.roomId}/status`)).json();
    assert.equal(status.participants[room.participants[0]!.id].connected, true);

    const wsClosed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    const stopped = await stop(first);
    assert.equal(stopped.code, 0, first.out());
    assert.equal(await wsClosed, 1001);

    // Second start: nothing re-generated, the key still works, the room is still there.
    const second = await start(dir, env, port);
    runs.push(second);
    console.log(`# start to healthy ${second.healthyAfterMs.toFixed(0)} ms (later start)`);
    assert.doesNotMatch(second.out(), /API key/);
    assert.equal(readFileSync(join(dataDir, "secrets.json"), "utf8"), secrets);
    const again = await api(`/api/rooms/${room.roomId}`);
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { title: string }).title, "From the binary");
    assert.equal((await stop(second)).code, 0);
  });

  it("answers --version, --help and doctor without a Node installation around it", async () => {
    const exe = join(dir, "parley");
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
    const env = { PATH: "/usr/bin:/bin" };
    assert.equal(spawnSync(exe, ["--version"], { encoding: "utf8", env }).stdout.trim(), `parley ${pkg.version}`);
    assert.match(spawnSync(exe, ["--help"], { encoding: "utf8", env }).stdout, /PARLEY_TURN_RELAY_PORTS\s+49160-49359/);
    const doc = spawnSync(exe, ["doctor"], { encoding: "utf8", cwd: dir, env: { ...env, PARLEY_DATA_DIR: "data", PARLEY_PORT: String(await freePort("tcp")), PARLEY_TURN_PORT: String(await freePort("udp")) } });
    assert.equal(doc.status, 0, doc.stdout + doc.stderr);
    const backup = spawnSync(exe, ["backup", "copy.sqlite"], { encoding: "utf8", cwd: dir, env: { ...env, PARLEY_DATA_DIR: "data" } });
    assert.equal(backup.status, 0, backup.stdout + backup.stderr);
    assert.match(backup.stdout, /integrity check: ok/);
  });
});
