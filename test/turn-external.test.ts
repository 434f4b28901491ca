import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { relayOf } from "../src/turn/capability.js";
import { startTestServer, tempDir, type TestServer } from "./helpers/server.js";
import { fetchCredentials, freeUdpPort, participantOf, randomRelayRange, runUclient, type TurnCredentialBody } from "./helpers/turn.js";

const SECRET = "external-mode-test-secret-0123456789";

describe("PARLEY_TURN=external with coturn from turn/turnserver.conf", () => {
  let s: TestServer;
  let coturn: ChildProcess;
  let coturnPort: number;
  let dir: string;
  let coturnLog = "";

  before(async () => {
    coturnPort = await freeUdpPort();
    dir = tempDir("parley-coturn-");
    const range = randomRelayRange(100);
    // the repository's config, with only what a loopback test must change given on the command line
    coturn = spawn(
      "turnserver",
      [
        "-c", "turn/turnserver.conf",
        "--listening-port", String(coturnPort),
        "--listening-ip", "127.0.0.1",
        "--relay-ip", "127.0.0.1",
        "--min-port", String(range.min),
        "--max-port", String(range.max),
        "--static-auth-secret", SECRET,
        // the config denies loopback peers; two clients on this machine relay to each other on 127.0.0.1
        "--allow-loopback-peers",
        "--allowed-peer-ip=127.0.0.1",
        "--db", join(dir, "turndb"),
        "--pidfile", join(dir, "turnserver.pid"),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    coturn.stdout!.on("data", (d) => (coturnLog += d));
    coturn.stderr!.on("data", (d) => (coturnLog += d));
    const deadline = Date.now() + 10_000;
    while (!/listener opened on|Total General servers/i.test(coturnLog) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    s = await startTestServer({
      PARLEY_TURN: "external",
      PARLEY_TURN_SECRET: SECRET,
      PARLEY_TURN_URLS: `turn:127.0.0.1:${coturnPort}?transport=udp`,
    });
  });

  after(async () => {
    await s?.close();
    if (coturn && coturn.exitCode === null) {
      const exited = new Promise((r) => coturn.once("exit", r));
      coturn.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts no embedded relay and hands out the configured URIs", async () => {
    assert.equal(relayOf(s.running.ctx), undefined);
    const p = await participantOf(s);
    const c = (await (await fetchCredentials(s, p.token)).json()) as TurnCredentialBody;
    assert.deepEqual(c.uris, [`turn:127.0.0.1:${coturnPort}?transport=udp`]);
  });

  it("relays through coturn with credentials Parley issued, at 0 % loss", async () => {
    const p = await participantOf(s);
    const c = (await (await fetchCredentials(s, p.token)).json()) as TurnCredentialBody;
    const r = await runUclient(["-y", "-u", c.username, "-w", c.password, "-p", String(coturnPort), "-n", "50", "-l", "500", "127.0.0.1"]);
    assert.equal(r.lostPackets, 0, r.output.slice(-600) + coturnLog.slice(-600));
    assert.ok(r.sent > 0 && r.received === r.sent);
  });

  it("coturn refuses a credential signed with another secret", async () => {
    const p = await participantOf(s);
    const c = (await (await fetchCredentials(s, p.token)).json()) as TurnCredentialBody;
    const r = await runUclient(["-y", "-u", c.username, "-w", "d3Jvbmc=", "-p", String(coturnPort), "-n", "5", "127.0.0.1"], 30_000);
    assert.equal(r.received, 0);
  });
});
