import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestServer, tempDir, type TestServer } from "./helpers/server.js";

/**
 * No Docker engine runs here, so the image is never built in this suite:
 * these checks catch what usually breaks one (a COPY of a missing path, a CMD
 * that names no real entry, a HEALTHCHECK that cannot pass) and run the
 * HEALTHCHECK command itself against a real server.
 */

/** Dockerfile instructions with their continuation lines joined. */
function instructions(text: string): { op: string; args: string }[] {
  return text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const [op = "", ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(" ") };
    });
}

const dockerfile = readFileSync("Dockerfile", "utf8");
const steps = instructions(dockerfile);
const ignored = readFileSync(".dockerignore", "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));

describe("deployment files", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it("every COPY from the build context names a path that exists and is not excluded by .dockerignore", () => {
    const copies = steps.filter((x) => x.op === "COPY" && !x.args.includes("--from="));
    assert.ok(copies.length >= 5);
    for (const c of copies) {
      const parts = c.args.split(/\s+/).filter((p) => !p.startsWith("--"));
      for (const src of parts.slice(0, -1)) {
        assert.ok(existsSync(src), `COPY ${src}: no such path`);
        const clean = src.replace(/\/$/, "");
        assert.ok(!ignored.includes(clean), `COPY ${src} is excluded by .dockerignore`);
      }
    }
    // The build stage gets what postinstall needs (patches for node-turn, the client build script and sources).
    for (const needed of ["package-lock.json", "patches/", "scripts/", "src/"]) assert.ok(copies.some((c) => c.args.includes(needed)), needed);
  });

  it("the image runs the real entry as a non-root user with /data as its volume", () => {
    const froms = steps.filter((x) => x.op === "FROM").map((x) => x.args);
    assert.equal(froms.length, 2, "multi-stage");
    for (const f of froms) assert.match(f, /^node:20-bookworm-slim/);
    const cmd = JSON.parse(steps.filter((x) => x.op === "CMD").at(-1)!.args) as string[];
    assert.equal(cmd[0], "node");
    assert.ok(existsSync(cmd[1]!), `CMD names ${cmd[1]}`);
    // bin/parley.mjs must lead to the same entry as npm start.
    const entry = readFileSync(cmd[1]!, "utf8").match(/import\("(.+?)"\)/)?.[1];
    assert.equal(entry, "../src/main.ts");
    assert.match(JSON.parse(readFileSync("package.json", "utf8")).scripts.start, /src\/main\.ts/);
    const user = steps.filter((x) => x.op === "USER").at(-1)?.args;
    assert.ok(user && user !== "root" && user !== "0", "runs unprivileged");
    assert.match(steps.find((x) => x.op === "VOLUME")!.args, /\/data/);
    assert.match(steps.find((x) => x.op === "ENV")!.args, /PARLEY_DATA_DIR=\/data/);
    const exposed = steps.filter((x) => x.op === "EXPOSE").flatMap((x) => x.args.split(/\s+/));
    assert.deepEqual(exposed.sort(), ["3478/udp", "49160-49359/udp", "8080/tcp"]);
  });

  it("the HEALTHCHECK command passes against a running server and fails when it is down", async () => {
    const hc = steps.find((x) => x.op === "HEALTHCHECK")!.args;
    const cmd = JSON.parse(hc.slice(hc.indexOf("CMD") + 3).trim()) as string[];
    assert.equal(cmd[0], "node");
    // Asynchronously: the server under test lives in this process and must keep answering.
    const run = (port: number) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, cmd.slice(1), { env: { PATH: process.env.PATH, PARLEY_PORT: String(port) }, stdio: "ignore" });
        child.on("exit", (code) => resolve(code));
      });
    assert.equal(await run(s.port), 0);
    const down = await startTestServer();
    const port = down.port;
    await down.close();
    assert.equal(await run(port), 1);
  });

  it("the compose example publishes the relay's ports and sets its external address", () => {
    const compose = readFileSync("docker-compose.yml", "utf8");
    assert.match(compose, /"8080:8080\/tcp"/);
    assert.match(compose, /"3478:3478\/udp"/);
    assert.match(compose, /"49160-49359:49160-49359\/udp"/);
    assert.match(compose, /^\s+PARLEY_TURN_EXTERNAL_IP: "[\d.]+"/m);
    assert.match(compose, /parley-data:\/data/);
  });

  it("the systemd unit passes systemd-analyze verify and carries the hardening", () => {
    const unit = readFileSync("deploy/parley.service", "utf8");
    for (const line of [
      "User=parley",
      "StateDirectory=parley",
      "Environment=PARLEY_DATA_DIR=/var/lib/parley",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "NoNewPrivileges=yes",
      "CapabilityBoundingSet=",
      "Restart=on-failure",
      "ExecReload=/bin/kill -HUP $MAINPID",
    ]) {
      assert.ok(unit.split("\n").includes(line), line);
    }
    // Verified with an executable that exists here in place of /usr/local/bin/parley.
    const dir = tempDir("parley-unit-");
    const copy = join(dir, "parley.service");
    writeFileSync(copy, unit.replace("ExecStart=/usr/local/bin/parley", `ExecStart=${process.execPath}`));
    const r = spawnSync("systemd-analyze", ["verify", copy], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), "");
  });
});
