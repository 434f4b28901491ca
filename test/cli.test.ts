import Database from "better-sqlite3";
import jwt from "jsonwebtoken";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CONFIG_VARIABLES } from "../src/config.js";
import { startTestServer, tempDir } from "./helpers/server.js";

/** Runs `parley <args>` as `npm start` does (tsx, from source) and collects its output. */
function parley(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
      env: { PATH: process.env.PATH ?? "", PARLEY_LOG_LEVEL: "silent", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => resolve({ code, out, err }));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function freeUdpPort(): Promise<{ port: number; hold: Socket }> {
  return new Promise((resolve) => {
    const hold = createSocket("udp4");
    hold.bind(0, "0.0.0.0", () => resolve({ port: hold.address().port, hold }));
  });
}

describe("command line", () => {
  const cleanup: (() => unknown)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  async function healthyEnv() {
    const dataDir = tempDir("parley-cli-");
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const udp = await freeUdpPort();
    const turnPort = udp.port;
    await new Promise<void>((r) => udp.hold.close(() => r()));
    return { PARLEY_DATA_DIR: dataDir, PARLEY_PORT: String(await freePort()), PARLEY_HOST: "127.0.0.1", PARLEY_TURN_PORT: String(turnPort) };
  }

  it("--version prints the package version and --help every setting with its default", async () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
    const v = await parley(["--version"]);
    assert.equal(v.code, 0);
    assert.equal(v.out.trim(), `parley ${pkg.version}`);
    const h = await parley(["--help"]);
    assert.equal(h.code, 0);
    for (const [name, def] of CONFIG_VARIABLES) {
      assert.match(h.out, new RegExp(`^  ${name}\\s+${def.replace(/[$*()|.]/g, "\\$&")}\\s`, "m"), `${name} with default ${def}`);
    }
    for (const cmd of ["doctor", "backup <file>", "create-room"]) assert.ok(h.out.includes(`parley ${cmd}`), cmd);
    // The README's table is generated from the same list (scripts/config-table.mjs).
    const readme = readFileSync("README.md", "utf8");
    const table = readme.slice(readme.indexOf("<!-- config-table:start -->"), readme.indexOf("<!-- config-table:end -->"));
    for (const [name, def] of CONFIG_VARIABLES) {
      assert.ok(table.includes(`| \`${name}\` | ${def === "-" ? "—" : `\`${def}\``} |`), `README row for ${name}; run: node --import tsx scripts/config-table.mjs`);
    }
    const bad = await parley(["frobnicate"]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown command "frobnicate".*--help/);
  });

  it("doctor on a healthy setup exits 0 and says the public URL needs a running server", async () => {
    const env = await healthyEnv();
    const r = await parley(["doctor"], env);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /^ok\s+data dir\s+.*is writable/m);
    assert.match(r.out, /^ok\s+TURN port\s+UDP port \d+ is free/m);
    assert.match(r.out, /^ok\s+ffmpeg\s+ffmpeg version/m);
    assert.match(r.out, /^skipped\s+public URL\s+no Parley is running/m);
    assert.match(r.out, /No problems found/);
    // Doctor only looks: it generates no secrets in the data dir.
    assert.throws(() => readFileSync(join(env.PARLEY_DATA_DIR, "secrets.json")));
  });

  it("doctor with the TURN port taken exits non-zero and names the problem and what to do", async () => {
    const env = await healthyEnv();
    const { port, hold } = await freeUdpPort();
    cleanup.push(() => hold.close());
    const r = await parley(["doctor"], { ...env, PARLEY_TURN_PORT: String(port) });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`^PROBLEM\\s+TURN port\\s+UDP port ${port} is taken by another program`, "m"));
    assert.match(r.out, /-> stop that program .*PARLEY_TURN_PORT/);
    assert.match(r.out, /1 problem found/);
  });

  it("doctor with a data dir that cannot be written exits non-zero naming the data dir", async () => {
    const env = await healthyEnv();
    // A regular file where the folder should be (root ignores permission bits, so chmod would prove nothing).
    const file = join(env.PARLEY_DATA_DIR, "not-a-folder");
    writeFileSync(file, "x");
    const r = await parley(["doctor"], { ...env, PARLEY_DATA_DIR: file });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^PROBLEM\s+data dir\s+.*not-a-folder exists but is not a folder/m);
    assert.match(r.out, /-> set PARLEY_DATA_DIR to a folder this user can write/);

    // A read-only file system: a read-only tmpfs where mounting is allowed, else sysfs (never writable for new folders).
    const ro = join(env.PARLEY_DATA_DIR, "ro");
    mkdirSync(ro);
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro]).status === 0;
    if (mounted) cleanup.push(() => spawnSync("umount", [ro]));
    const target = mounted ? ro : "/sys/parley-data";
    const r2 = await parley(["doctor"], { ...env, PARLEY_DATA_DIR: target });
    assert.equal(r2.code, 1, r2.out);
    assert.match(r2.out, /^PROBLEM\s+data dir\s+/m);
    assert.ok(r2.out.includes(target));
  });

  it("doctor next to a running server checks the public URL and flags plain http on a LAN address", async () => {
    const s = await startTestServer();
    cleanup.push(() => s.close());
    const env = { PARLEY_DATA_DIR: s.dataDir, PARLEY_PORT: String(s.port), PARLEY_HOST: "127.0.0.1", PARLEY_TURN: "off" };
    const ok = await parley(["doctor"], { ...env, PARLEY_PUBLIC_URL: s.url });
    assert.match(ok.out, /^ok\s+HTTP port\s+port \d+ is served by a running Parley/m);
    assert.match(ok.out, /^ok\s+public URL\s+.* answers from this machine/m);
    assert.match(ok.out, /^warning\s+TURN port\s+TURN is off/m);
    assert.equal(ok.code, 0, ok.out);

    const lan = await parley(["doctor"], { ...env, PARLEY_PUBLIC_URL: `http://192.0.2.10:${s.port}` });
    assert.equal(lan.code, 1);
    assert.match(lan.out, /^PROBLEM\s+camera access\s+http:\/\/192\.0\.2\.10:\d+ is plain http/m);
    assert.match(lan.out, /-> set PARLEY_TLS=self-signed/);
    assert.match(lan.out, /^PROBLEM\s+public URL\s+/m);
  });

  it("doctor reads a TLS certificate: valid names and expiry, or a key that does not match", async () => {
    const env = await healthyEnv();
    const started = await startTestServer({ PARLEY_TLS: "self-signed" }, { dataDir: env.PARLEY_DATA_DIR });
    await started.stop();
    const r = await parley(["doctor"], { ...env, PARLEY_TLS: "self-signed" });
    assert.match(r.out, /^ok\s+TLS certificate\s+valid for localhost until \d{4}-\d\d-\d\d \(\d+ days\)/m);
    assert.match(r.out, /^ok\s+camera access\s+https:/m);
    assert.equal(r.code, 0, r.out);
    const tls = join(env.PARLEY_DATA_DIR, "tls");
    const other = tempDir("parley-cli-tls-");
    cleanup.push(() => rmSync(other, { recursive: true, force: true }));
    const b = await startTestServer({ PARLEY_TLS: "self-signed" }, { dataDir: other });
    await b.stop();
    const mismatch = await parley(["doctor"], { ...env, PARLEY_TLS_CERT: join(tls, "cert.pem"), PARLEY_TLS_KEY: join(other, "tls", "key.pem") });
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.out, /^PROBLEM\s+TLS certificate\s+.*key\.pem does not belong to/m);
  });

  it("create-room works without a server and prints join links whose tokens the server accepts", async () => {
    const env = await healthyEnv();
    const r = await parley(["create-room", "--title", "Follow-up visit", "--host", "Dr. Lee", "--guest", "Sam"], { ...env, PARLEY_PUBLIC_URL: "https://clinic.example" });
    assert.equal(r.code, 0, r.err);
    const m = r.out.match(/^Room (\S+) "Follow-up visit" created/m);
    assert.ok(m, r.out);
    const roomId = m[1]!;
    const links = [...r.out.matchAll(/https:\/\/clinic\.example\/join\/\S+\?token=(\S+)/g)];
    assert.equal(links.length, 2);
    assert.match(r.out, /Dr\. Lee \(host\)/);
    assert.match(r.err, /API key \(shown only this once\)/);

    const s = await startTestServer({}, { dataDir: env.PARLEY_DATA_DIR });
    cleanup.push(() => s.close());
    const room = await (await s.api(`/api/rooms/${roomId}`)).json();
    assert.equal(room.title, "Follow-up visit");
    const claims = jwt.verify(decodeURIComponent(links[0]![1]!), s.jwtSecret) as { roomId: string; role: string; name: string };
    assert.equal(claims.roomId, roomId);
    assert.equal(claims.role, "host");
    assert.equal(claims.name, "Dr. Lee");

    const bad = await parley(["create-room", "--colour", "red"], env);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /usage: parley create-room/);
  });

  it("backup while the server is writing produces a database that passes integrity_check", async () => {
    const s = await startTestServer();
    cleanup.push(() => s.close());
    for (let i = 0; i < 100; i++) await s.api("/api/rooms", { method: "POST", json: { title: `before ${i}`, participants: [{ name: "A" }, { name: "B" }] } });
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        const res = await s.api("/api/rooms", { method: "POST", json: { title: `during ${written}`, participants: [{ name: "A" }] } });
        assert.equal(res.status, 201);
        written++;
      }
    })();
    const file = join(tempDir("parley-backup-"), "copy.sqlite");
    cleanup.push(() => rmSync(join(file, ".."), { recursive: true, force: true }));
    const r = await parley(["backup", file], { PARLEY_DATA_DIR: s.dataDir });
    writing = false;
    await writer;
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Backed up .*parley\.sqlite to .*copy\.sqlite .*integrity check: ok/);
    assert.ok(written > 0, "the server kept writing during the backup");
    const copy = new Database(file, { readonly: true });
    try {
      assert.equal(copy.pragma("integrity_check", { simple: true }), "ok");
      const rooms = (copy.prepare("select count(*) as n from rooms").get() as { n: number }).n;
      assert.ok(rooms >= 100, `rooms in the copy: ${rooms}`);
    } finally {
      copy.close();
    }
    const missing = await parley(["backup"], { PARLEY_DATA_DIR: s.dataDir });
    assert.equal(missing.code, 2);
    assert.match(missing.err, /usage: parley backup <file>/);
  });
});
