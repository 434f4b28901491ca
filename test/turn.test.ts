import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { turnPassword } from "../src/turn/credentials.js";
import { relayOf } from "../src/turn/capability.js";
import { createRoom, startTestServer } from "./helpers/server.js";
import {
  fetchCredentials,
  participantOf,
  runUclient,
  startTurnServer,
  type TurnCredentialBody,
  type TurnTestServer,
} from "./helpers/turn.js";

describe("TURN credentials and the embedded relay", () => {
  let s: TurnTestServer;
  before(async () => {
    s = await startTurnServer();
  });
  after(() => s.close());

  it("issues TURN REST credentials to an admitted participant", async () => {
    const p = await participantOf(s);
    const res = await fetchCredentials(s, p.token);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-store");
    const c = (await res.json()) as TurnCredentialBody;
    const [expiry, id] = [c.username.slice(0, c.username.indexOf(":")), c.username.slice(c.username.indexOf(":") + 1)];
    assert.equal(id, p.participantId);
    assert.ok(Math.abs(Number(expiry) - (Date.now() / 1000 + 3600)) < 5);
    assert.equal(c.ttl, 3600);
    assert.equal(c.password, turnPassword(s.running.ctx.config.turn.secret, c.username));
    assert.deepEqual(c.uris, [`stun:127.0.0.1:${s.turnPort}`, `turn:127.0.0.1:${s.turnPort}?transport=udp`]);
  });

  it("refuses credentials to someone waiting in the lobby, and without a token", async () => {
    const room = await createRoom(s, { waitingRoom: true, participants: [{ name: "Host", role: "host" }, { name: "Guest", role: "participant" }] });
    const waiting = await fetchCredentials(s, room.participants[1]!.token);
    assert.equal(waiting.status, 403);
    assert.equal((await waiting.json()).code, "not_admitted");
    const host = await fetchCredentials(s, room.participants[0]!.token);
    assert.equal(host.status, 200);
    const none = await fetch(s.url + "/api/turn/credentials");
    assert.equal(none.status, 401);
  });

  it("relays client-to-client traffic with API credentials at 0 % loss (channels, Send indications, with and without RTCP)", async () => {
    const p = await participantOf(s);
    const c = (await (await fetchCredentials(s, p.token)).json()) as TurnCredentialBody;
    relayOf(s.running.ctx)!.setLimits({ maxAllocationsPerParticipant: 64 });
    for (const mode of [["-y"], ["-y", "-c"], ["-y", "-c", "-s"]]) {
      const r = await runUclient([...mode, "-u", c.username, "-w", c.password, "-p", String(s.turnPort), "-m", "4", "-n", "50", "-l", "1000", "127.0.0.1"]);
      assert.equal(r.lostPackets, 0, `${mode.join(" ")}: ${r.output.slice(-600)}`);
      assert.ok(r.sent > 0 && r.received === r.sent, `${mode.join(" ")}: sent ${r.sent}, received ${r.received}`);
    }
    const metrics = await (await fetch(s.url + "/metrics")).text();
    const bytes = Number(/parley_turn_relayed_bytes_total (\d+)/.exec(metrics)?.[1]);
    assert.ok(bytes >= 3 * 4 * 50 * 1000 * 2, `relayed bytes ${bytes}`);
    assert.match(metrics, /parley_turn_allocations \d+/);
  });

  it("refuses a wrong password", async () => {
    const p = await participantOf(s);
    const c = (await (await fetchCredentials(s, p.token)).json()) as TurnCredentialBody;
    const r = await runUclient(["-y", "-u", c.username, "-w", c.password + "x", "-p", String(s.turnPort), "-n", "5", "127.0.0.1"], 30_000);
    assert.equal(r.received, 0);
    assert.ok(r.errors.length > 0, r.output.slice(-400));
    const metrics = await (await fetch(s.url + "/metrics")).text();
    assert.match(metrics, /parley_turn_refusals_total\{reason="unauthorized"\} [1-9]/);
  });
});

describe("TURN when PARLEY_TURN=off", () => {
  it("answers the credentials route with a clear problem", async () => {
    const s = await startTestServer({ PARLEY_TURN: "off" });
    try {
      const p = await participantOf(s);
      const res = await fetchCredentials(s, p.token);
      assert.equal(res.status, 404);
      assert.equal((await res.json()).code, "turn_disabled");
    } finally {
      await s.close();
    }
  });
});
