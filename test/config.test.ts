import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CONFIG_VARIABLES, ConfigError, loadConfig } from "../src/config.js";
import { tempDir } from "./helpers/server.js";

const API_MD_VARS = [
  "PARLEY_PORT", "PARLEY_HOST", "PARLEY_PUBLIC_URL", "PARLEY_DATA_DIR", "PARLEY_API_KEY", "PARLEY_JWT_SECRET", "PARLEY_TURN", "PARLEY_TURN_PORT",
  "PARLEY_TURN_SECRET", "PARLEY_TURN_URLS", "PARLEY_TURN_TTL", "PARLEY_TURN_RELAY_PORTS", "PARLEY_TURN_EXTERNAL_IP", "PARLEY_TURN_ALLOW_PRIVATE_PEERS",
  "PARLEY_TLS", "PARLEY_TLS_CERT", "PARLEY_TLS_KEY", "PARLEY_SMTP_URL", "PARLEY_MAIL_FROM", "PARLEY_ORG_NAME", "PARLEY_RECORDING_RETENTION_DAYS",
  "PARLEY_FFMPEG_PATH", "PARLEY_LOG_LEVEL", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET", "ZOOM_WEBHOOK_SECRET",
];

describe("configuration", () => {
  it("knows every variable of API.md", () => {
    const known = new Set(CONFIG_VARIABLES.map((v) => v[0]));
    for (const v of API_MD_VARS) assert.ok(known.has(v as never), v);
  });

  it("has working defaults with nothing set", () => {
    const dir = tempDir();
    const c = loadConfig({ PARLEY_DATA_DIR: dir });
    assert.equal(c.port, 8080);
    assert.equal(c.host, "0.0.0.0");
    assert.equal(c.publicUrl, "http://localhost:8080");
    assert.equal(c.turn.mode, "embedded");
    assert.equal(c.turn.port, 3478);
    assert.equal(c.turn.ttlSeconds, 3600);
    assert.deepEqual(c.turn.relayPorts, { min: 49160, max: 49359 });
    assert.equal(c.turn.allowPrivatePeers, false);
    assert.equal(c.mail.from, "parley@localhost");
    assert.equal(c.mail.orgName, "Parley");
    assert.equal(c.recordings.retentionDays, 0);
    assert.equal(c.logLevel, "info");
  });

  it("generates strong secrets once, keeps them 0600, and reuses them", () => {
    const dir = tempDir();
    const first = loadConfig({ PARLEY_DATA_DIR: dir });
    assert.deepEqual(first.generated.sort(), ["PARLEY_API_KEY", "PARLEY_JWT_SECRET", "PARLEY_TURN_SECRET"]);
    assert.ok(first.apiKey.length >= 43 && first.jwtSecret.length >= 43 && first.apiKey !== first.jwtSecret);
    const file = join(dir, "secrets.json");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const second = loadConfig({ PARLEY_DATA_DIR: dir });
    assert.deepEqual(second.generated, []);
    assert.equal(second.apiKey, first.apiKey);
    assert.equal(second.jwtSecret, first.jwtSecret);
    assert.equal(second.turn.secret, first.turn.secret);
    const given = loadConfig({ PARLEY_DATA_DIR: dir, PARLEY_API_KEY: "an-operator-chosen-key-123" });
    assert.equal(given.apiKey, "an-operator-chosen-key-123");
    assert.equal(JSON.parse(readFileSync(file, "utf8")).apiKey, first.apiKey, "an explicit key is not written to disk");
  });

  const bad: [Record<string, string>, string, RegExp][] = [
    [{ PARLEY_PORT: "70000" }, "PARLEY_PORT", /1-65535/],
    [{ PARLEY_PORT: "http" }, "PARLEY_PORT", /port/],
    [{ PARLEY_PUBLIC_URL: "not a url" }, "PARLEY_PUBLIC_URL", /URL/],
    [{ PARLEY_PUBLIC_URL: "ftp://x" }, "PARLEY_PUBLIC_URL", /http/],
    [{ PARLEY_TURN: "maybe" }, "PARLEY_TURN", /embedded, external or off/],
    [{ PARLEY_TURN: "external" }, "PARLEY_TURN_URLS", /required/],
    [{ PARLEY_TURN_URLS: "http://x" }, "PARLEY_TURN_URLS", /turn/],
    [{ PARLEY_TURN_RELAY_PORTS: "5-3" }, "PARLEY_TURN_RELAY_PORTS", /range/],
    [{ PARLEY_TURN_EXTERNAL_IP: "example.org" }, "PARLEY_TURN_EXTERNAL_IP", /IP/],
    [{ PARLEY_TURN_ALLOW_PRIVATE_PEERS: "sure" }, "PARLEY_TURN_ALLOW_PRIVATE_PEERS", /true or false/],
    [{ PARLEY_API_KEY: "short" }, "PARLEY_API_KEY", /16/],
    [{ PARLEY_SMTP_URL: "http://mail" }, "PARLEY_SMTP_URL", /smtp/],
    [{ PARLEY_LOG_LEVEL: "loud" }, "PARLEY_LOG_LEVEL", /pino level/],
    [{ PARLEY_TLS_CERT: "/x.pem" }, "PARLEY_TLS_KEY", /together/],
  ];
  for (const [env, variable, reason] of bad) {
    it(`refuses ${JSON.stringify(env)} naming ${variable}`, () => {
      assert.throws(
        () => loadConfig({ PARLEY_DATA_DIR: tempDir(), ...env }),
        (err: unknown) => err instanceof ConfigError && err.variable === variable && reason.test(err.message),
      );
    });
  }

  it("stops the real process with one line naming the variable", () => {
    const dir = tempDir();
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts"], { env: { ...process.env, PARLEY_DATA_DIR: dir, PARLEY_PORT: "99999" }, encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 2);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^parley: invalid configuration: PARLEY_PORT: /);
    assert.equal(existsSync(join(dir, "parley.sqlite")), false, "nothing was created");
  });
});
