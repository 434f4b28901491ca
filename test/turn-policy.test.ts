import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { relayOf } from "../src/turn/capability.js";
import {
  boundUdpPorts,
  fetchCredentials,
  participantOf,
  relayedAddressOf,
  runUclient,
  startTurnServer,
  StunClient,
  type TurnCredentialBody,
  type TurnTestServer,
} from "./helpers/turn.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function credentialsFor(s: TurnTestServer, body: Record<string, unknown> = {}) {
  const p = await participantOf(s, body);
  const res = await fetchCredentials(s, p.token);
  assert.equal(res.status, 200);
  return { ...p, ...((await res.json()) as TurnCredentialBody) };
}

async function metric(s: TurnTestServer, pattern: RegExp): Promise<number> {
  const text = await (await fetch(s.url + "/metrics")).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}

describe("TURN relay policy", () => {
  let s: TurnTestServer;
  before(async () => {
    s = await startTurnServer();
  });
  after(() => s.close());

  it("answers permissions for private and link-local peers with 403 (asking only, never sending)", async () => {
    const c = await credentialsFor(s);
    const client = await StunClient.open({ host: "127.0.0.1", port: s.turnPort }, c.username, c.password);
    try {
      assert.equal((await client.allocate()).errorCode, undefined);
      for (const peer of ["10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.10.10", "0.0.0.0"]) {
        assert.equal((await client.createPermission(peer)).errorCode, 403, peer);
        assert.equal((await client.channelBind(0x4100, peer, 5000)).errorCode, 403, peer);
      }
      assert.ok((await metric(s, /parley_turn_refusals_total\{reason="forbidden_peer"\} (\d+)/)) >= 10);
    } finally {
      await client.close();
    }
  });

  it("lets clients reach each other through the relay's own address, but never a local service port outside the relay range", async () => {
    const c = await credentialsFor(s);
    const a = await StunClient.open({ host: "127.0.0.1", port: s.turnPort }, c.username, c.password);
    const b = await StunClient.open({ host: "127.0.0.1", port: s.turnPort }, c.username, c.password);
    try {
      const ra = relayedAddressOf(await a.allocate());
      const rb = relayedAddressOf(await b.allocate());
      // relayed where the client reached the server, inside the configured range
      assert.equal(ra.address, "127.0.0.1");
      assert.ok(ra.port >= s.relayPorts.min && ra.port <= s.relayPorts.max);
      assert.equal((await a.createPermission("127.0.0.1")).errorCode, undefined);
      assert.equal((await a.channelBind(0x4000, rb.address, rb.port)).errorCode, undefined);
      // Parley's own HTTP port on loopback is not a peer
      assert.equal((await a.channelBind(0x4001, "127.0.0.1", s.port)).errorCode, 403);
      assert.equal((await b.createPermission("127.0.0.1")).errorCode, undefined);
      a.send(Buffer.from([0x40, 0x00, 0x00, 0x03, 1, 2, 3, 0]));
      const got = await b.receive((m) => m.readUInt16BE(0) === 0x0017);
      assert.ok(got.includes(Buffer.from([1, 2, 3])));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("caps allocations per participant (486 beyond the cap)", async () => {
    const relay = relayOf(s.running.ctx)!;
    relay.setLimits({ maxAllocationsPerParticipant: 2 });
    const c = await credentialsFor(s);
    const clients = await Promise.all([0, 1, 2].map(() => StunClient.open({ host: "127.0.0.1", port: s.turnPort }, c.username, c.password)));
    try {
      assert.equal((await clients[0]!.allocate()).errorCode, undefined);
      assert.equal((await clients[1]!.allocate()).errorCode, undefined);
      assert.equal((await clients[2]!.allocate()).errorCode, 486);
      // another participant is not affected
      const other = await credentialsFor(s);
      const o = await StunClient.open({ host: "127.0.0.1", port: s.turnPort }, other.username, other.password);
      assert.equal((await o.allocate()).errorCode, undefined);
      await o.close();
      // freeing one makes room again
      assert.equal((await clients[0]!.refresh(0)).errorCode, undefined);
      assert.equal((await clients[2]!.allocate()).errorCode, undefined);
      assert.ok((await metric(s, /parley_turn_refusals_total\{reason="quota"\} (\d+)/)) >= 1);
    } finally {
      relay.setLimits({ maxAllocationsPerParticipant: 16 });
      for (const x of clients) await x.close();
    }
  });

  it("refuses a removed participant's credentials and closes their allocations at once", async () => {
    const c = await credentialsFor(s);
    const client = await StunClient.open({ host: "127.0.0.1", port: s.turnPort }, c.username, c.password);
    try {
      const relayed = relayedAddressOf(await client.allocate());
      assert.equal((await boundUdpPorts(relayed.port, relayed.port)).length, 1);
      // what signaling does when a host removes someone
      s.running.ctx.rooms.markRemoved(c.roomId, c.participantId, "host");
      s.running.ctx.bus.emit("participant-removed", { roomId: c.roomId, sessionId: c.sessionId, participantId: c.participantId, by: "host", at: new Date().toISOString() });
      assert.deepEqual(await boundUdpPorts(relayed.port, relayed.port), []);
      // the allocation is gone (437), whatever the credential
      assert.equal((await client.refresh(600)).errorCode, 437);
      const r = await runUclient(["-y", "-c", "-u", c.username, "-w", c.password, "-p", String(s.turnPort), "-n", "5", "127.0.0.1"], 30_000);
      assert.equal(r.received, 0);
      assert.ok(r.errors.some((e) => /401|Unauthorized|Cannot/i.test(e)), r.output.slice(-400));
      assert.ok((await metric(s, /parley_turn_refusals_total\{reason="revoked"\} (\d+)/)) >= 1);
      // and the API gives them no new ones
      assert.equal((await fetchCredentials(s, c.token)).status, 403);
    } finally {
      await client.close();
    }
  });

  it("refuses credentials of a room that ended", async () => {
    const c = await credentialsFor(s);
    const before = await runUclient(["-y", "-c", "-u", c.username, "-w", c.password, "-p", String(s.turnPort), "-n", "5", "127.0.0.1"]);
    assert.equal(before.lostPackets, 0);
    assert.equal((await s.api(`/api/rooms/${c.roomId}/end`, { method: "POST", json: {} })).status, 200);
    const after = await runUclient(["-y", "-c", "-u", c.username, "-w", c.password, "-p", String(s.turnPort), "-n", "5", "127.0.0.1"], 30_000);
    assert.equal(after.received, 0);
  });
});

describe("TURN credentials expire", () => {
  let s: TurnTestServer;
  before(async () => {
    s = await startTurnServer({ PARLEY_TURN_TTL: "1" });
  });
  after(() => s.close());

  it("refuses an expired credential", async () => {
    const c = await credentialsFor(s);
    assert.equal(c.ttl, 1);
    await sleep(2100);
    const r = await runUclient(["-y", "-c", "-u", c.username, "-w", c.password, "-p", String(s.turnPort), "-n", "5", "127.0.0.1"], 30_000);
    assert.equal(r.received, 0);
    assert.ok(r.errors.length > 0, r.output.slice(-400));
    assert.ok((await metric(s, /parley_turn_refusals_total\{reason="expired"\} (\d+)/)) >= 1);
  });
});

describe("TURN behind NAT (PARLEY_TURN_EXTERNAL_IP)", () => {
  let s: TurnTestServer;
  before(async () => {
    s = await startTurnServer({ PARLEY_TURN_EXTERNAL_IP: "203.0.113.7" });
  });
  after(() => s.close());

  it("advertises the external address in the relayed candidate", async () => {
    const c = await credentialsFor(s);
    const client = await StunClient.open({ host: "127.0.0.1", port: s.turnPort }, c.username, c.password);
    try {
      const relayed = relayedAddressOf(await client.allocate());
      assert.equal(relayed.address, "203.0.113.7");
      assert.ok(relayed.port >= s.relayPorts.min && relayed.port <= s.relayPorts.max);
    } finally {
      await client.close();
    }
  });
});
