import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { after, before, describe, it } from "node:test";
import { relayOf } from "../src/turn/capability.js";
import {
  ATTR,
  boundUdpPorts,
  fetchCredentials,
  participantOf,
  relayedAddressOf,
  runUclient,
  startEchoPeer,
  startTurnServer,
  StunClient,
  freeUdpPort,
  type TurnCredentialBody,
  type TurnTestServer,
} from "./helpers/turn.js";

/**
 * Regression tests for the node-turn 0.0.6 defects patched in
 * patches/node-turn+0.0.6.patch, each driven by coturn's turnutils_uclient
 * (and, where uclient cannot be told to misbehave, a minimal STUN client).
 */

async function credentialsFor(s: TurnTestServer): Promise<TurnCredentialBody & { participantId: string }> {
  const p = await participantOf(s);
  const c = (await (await fetchCredentials(s, p.token)).json()) as TurnCredentialBody;
  return { ...c, participantId: p.participantId };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("node-turn defects, client-to-client through the relay", () => {
  let s: TurnTestServer;
  before(async () => {
    s = await startTurnServer();
    relayOf(s.running.ctx)!.setLimits({ maxAllocationsPerParticipant: 1000 });
  });
  after(() => s.close());

  it("relays ChannelData from clients, with EVEN-PORT, RESERVATION-TOKEN, REQUESTED-ADDRESS-FAMILY and ChannelBind answered with valid integrity", async () => {
    const c = await credentialsFor(s);
    // default mode: channels + RTCP allocations (EVEN-PORT with R bit, then RESERVATION-TOKEN)
    const r = await runUclient(["-y", "-u", c.username, "-w", c.password, "-p", String(s.turnPort), "-m", "2", "-n", "40", "-l", "500", "127.0.0.1"]);
    assert.equal(r.lostPackets, 0, r.output.slice(-800));
    assert.equal(r.received, r.sent);
    assert.ok(r.sent >= 160);
    assert.deepEqual(r.errors, [], r.errors.join("\n"));
  });

  it("keeps an allocation relaying when it is refreshed past several lifetimes", async () => {
    const relay = relayOf(s.running.ctx)!;
    // turnutils_uclient refreshes every 30 s: a 33 s lifetime and 70 s of traffic
    // cross two refreshes (0.0.6 dropped the allocation at the first one)
    relay.setLimits({ defaultLifetimeSeconds: 33, maxLifetimeSeconds: 33 });
    try {
      const c = await credentialsFor(s);
      const r = await runUclient(["-y", "-c", "-u", c.username, "-w", c.password, "-p", String(s.turnPort), "-n", "3500", "-l", "100", "127.0.0.1"], 200_000);
      assert.equal(r.lostPackets, 0, r.output.slice(-800));
      assert.equal(r.received, r.sent);
      assert.ok(r.sent >= 7000);
      const metrics = await (await fetch(s.url + "/metrics")).text();
      assert.doesNotMatch(metrics, /parley_turn_refusals_total\{reason="allocation_mismatch"\}/);
    } finally {
      relay.setLimits({ defaultLifetimeSeconds: 600, maxLifetimeSeconds: 3600 });
    }
  });

  it("keeps a channel relaying across many short lifetimes when the client refreshes, and ends it when it does not", async () => {
    const relay = relayOf(s.running.ctx)!;
    relay.setLimits({ defaultLifetimeSeconds: 2, maxLifetimeSeconds: 2 });
    const c = await credentialsFor(s);
    const a = await StunClient.open({ host: "127.0.0.1", port: s.turnPort }, c.username, c.password);
    const b = await StunClient.open({ host: "127.0.0.1", port: s.turnPort }, c.username, c.password);
    try {
      const ra = relayedAddressOf(await a.allocate());
      const rb = relayedAddressOf(await b.allocate());
      assert.equal((await a.channelBind(0x4000, rb.address, rb.port)).errorCode, undefined);
      assert.equal((await b.createPermission(ra.address)).errorCode, undefined);
      // 8 s = four lifetimes, refreshing every second
      for (let i = 0; i < 8; i++) {
        const refreshed = await a.refresh(2);
        assert.equal(refreshed.errorCode, undefined, `refresh ${i}`);
        assert.equal(refreshed.attrs.get(ATTR.LIFETIME)![0]!.readUInt32BE(0), 2);
        assert.equal((await b.refresh(2)).errorCode, undefined);
        a.send(Buffer.from([0x40, 0x00, 0x00, 0x02, i, 0xee]));
        const got = await b.receive((m) => m.readUInt16BE(0) === 0x0017);
        assert.ok(got.includes(Buffer.from([i, 0xee])));
        await sleep(1000);
      }
      // stop refreshing: the allocation expires and its port is closed
      await sleep(3000);
      assert.equal((await a.refresh(2)).errorCode, 437);
      assert.deepEqual(await boundUdpPorts(ra.port, ra.port), []);
    } finally {
      relay.setLimits({ defaultLifetimeSeconds: 600, maxLifetimeSeconds: 3600 });
      await a.close();
      await b.close();
    }
  });

  it("answers a Refresh with the granted lifetime, and a Refresh to 0 closes the relayed port", async () => {
    const c = await credentialsFor(s);
    const client = await StunClient.open({ host: "127.0.0.1", port: s.turnPort }, c.username, c.password);
    try {
      const relayed = relayedAddressOf(await client.allocate());
      assert.ok((await boundUdpPorts(relayed.port, relayed.port)).length === 1);
      const refreshed = await client.refresh(1200);
      assert.equal(refreshed.errorCode, undefined);
      assert.equal(refreshed.attrs.get(ATTR.LIFETIME)![0]!.readUInt32BE(0), 1200);
      const deleted = await client.refresh(0);
      assert.equal(deleted.errorCode, undefined);
      assert.deepEqual(await boundUdpPorts(relayed.port, relayed.port), []);
      // the allocation is gone: a further Refresh is an allocation mismatch
      assert.equal((await client.refresh(600)).errorCode, 437);
    } finally {
      await client.close();
    }
  });

  it("ignores unknown comprehension-optional attributes and answers 420 with UNKNOWN-ATTRIBUTES for unknown required ones", async () => {
    const c = await credentialsFor(s);
    const client = await StunClient.open({ host: "127.0.0.1", port: s.turnPort }, c.username, c.password);
    try {
      const refused = await client.allocate([[0x0031, Buffer.alloc(4)]]);
      assert.equal(refused.errorCode, 420);
      assert.equal(refused.attrs.get(ATTR.UNKNOWN_ATTRIBUTES)![0]!.readUInt16BE(0), 0x0031);
      const ok = await client.allocate([[0x80aa, Buffer.from("ignored")]]);
      assert.equal(ok.errorCode, undefined);
      assert.ok(relayedAddressOf(ok).port >= s.relayPorts.min);
    } finally {
      await client.close();
    }
  });

  it("opens EVEN-PORT allocations inside the relay range, not on the client's port", async () => {
    const c = await credentialsFor(s);
    const client = await StunClient.open({ host: "127.0.0.1", port: s.turnPort }, c.username, c.password);
    const second = await StunClient.open({ host: "127.0.0.1", port: s.turnPort }, c.username, c.password);
    try {
      const even = await client.allocate([[0x0018, Buffer.from([0x80])]]);
      assert.equal(even.errorCode, undefined);
      const port = relayedAddressOf(even).port;
      assert.equal(port % 2, 0);
      assert.ok(port >= s.relayPorts.min && port <= s.relayPorts.max);
      const token = even.attrs.get(0x0022)![0]!;
      const next = await second.allocate([[0x0022, token]]);
      assert.equal(relayedAddressOf(next).port, port + 1);
    } finally {
      await client.close();
      await second.close();
    }
  });

  it("survives 1-3 byte datagrams from a client and keeps relaying", async () => {
    const sock = createSocket("udp4");
    await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
    for (const n of [1, 2, 3, 1, 2, 3]) sock.send(Buffer.alloc(n, 0x40), s.turnPort, "127.0.0.1");
    // a ChannelData header announcing more than it carries, and garbage that looks like STUN
    sock.send(Buffer.from([0x40, 0x00, 0x03, 0xe8, 1, 2]), s.turnPort, "127.0.0.1");
    sock.send(Buffer.concat([Buffer.from([0, 1, 0, 200]), Buffer.alloc(16)]), s.turnPort, "127.0.0.1");
    await sleep(200);
    sock.close();
    const c = await credentialsFor(s);
    const r = await runUclient(["-y", "-u", c.username, "-w", c.password, "-p", String(s.turnPort), "-n", "20", "-l", "100", "127.0.0.1"]);
    assert.equal(r.lostPackets, 0, r.output.slice(-600));
    assert.equal((await fetch(s.url + "/health")).status, 200);
  });

  it("fails TCP clients cleanly (the embedded relay is UDP only) and keeps serving UDP", async () => {
    const c = await credentialsFor(s);
    const tcp = await runUclient(["-t", "-y", "-u", c.username, "-w", c.password, "-p", String(s.turnPort), "-n", "5", "127.0.0.1"], 30_000);
    assert.equal(tcp.received, 0);
    assert.match(tcp.output, /cannot connect|Cannot complete|connect/i);
    const tcpRelay = await StunClient.open({ host: "127.0.0.1", port: s.turnPort }, c.username, c.password);
    try {
      const refused = await tcpRelay.request(0x0003, [[0x0019, Buffer.from([6, 0, 0, 0])]]);
      assert.equal(refused.errorCode, 442);
    } finally {
      await tcpRelay.close();
    }
    const udp = await runUclient(["-y", "-c", "-u", c.username, "-w", c.password, "-p", String(s.turnPort), "-n", "10", "127.0.0.1"]);
    assert.equal(udp.lostPackets, 0);
  });

});

describe("relay sockets", () => {
  let s: TurnTestServer;
  before(async () => {
    s = await startTurnServer();
    relayOf(s.running.ctx)!.setLimits({ maxAllocationsPerParticipant: 1000 });
  });
  after(() => s.close());

  it("closes every relay socket when 100 allocations come and go", async () => {
    const relay = relayOf(s.running.ctx)!;
    // uclient deletes its allocations (Refresh 0) when done; whatever it leaves expires after 20 s
    relay.setLimits({ defaultLifetimeSeconds: 20, maxLifetimeSeconds: 20 });
    try {
      const c = await credentialsFor(s);
      // three rounds of 100 allocations in a 200-port range: a leak would run out of ports (508)
      for (let round = 0; round < 3; round++) {
        const r = await runUclient(["-y", "-c", "-u", c.username, "-w", c.password, "-p", String(s.turnPort), "-m", "50", "-n", "2", "-l", "100", "127.0.0.1"], 120_000);
        assert.equal(r.lostPackets, 0, `round ${round}: ${r.output.slice(-600)}`);
        const deadline = Date.now() + 30_000;
        while (relay.allocationCount > 0 && Date.now() < deadline) await sleep(250);
        assert.equal(relay.allocationCount, 0);
        assert.equal(relay.openRelaySockets, 0);
        assert.deepEqual(await boundUdpPorts(s.relayPorts.min, s.relayPorts.max), []);
      }
    } finally {
      relay.setLimits({ defaultLifetimeSeconds: 600, maxLifetimeSeconds: 3600 });
    }
  });
});

describe("node-turn defects, relaying to a peer (PARLEY_TURN_ALLOW_PRIVATE_PEERS=true for a loopback peer)", () => {
  let s: TurnTestServer;
  before(async () => {
    s = await startTurnServer({ PARLEY_TURN_ALLOW_PRIVATE_PEERS: "true" });
  });
  after(() => s.close());

  it("relays to turnutils_peer with channels and with Send indications", async () => {
    const peerPort = await freeUdpPort();
    const stop = await startEchoPeer(peerPort);
    try {
      const c = await credentialsFor(s);
      for (const mode of [[], ["-c", "-s"]]) {
        const r = await runUclient([...mode, "-e", "127.0.0.1", "-r", String(peerPort), "-u", c.username, "-w", c.password, "-p", String(s.turnPort), "-n", "30", "-l", "300", "127.0.0.1"]);
        assert.equal(r.lostPackets, 0, `${mode.join(" ")}: ${r.output.slice(-600)}`);
        assert.equal(r.received, r.sent);
      }
    } finally {
      await stop();
    }
  });

  it("delivers a peer's 1-byte datagram, and a payload that looks like ChannelData, unchanged", async () => {
    const c = await credentialsFor(s);
    const client = await StunClient.open({ host: "127.0.0.1", port: s.turnPort }, c.username, c.password);
    const peer = createSocket("udp4");
    await new Promise<void>((r) => peer.bind(0, "127.0.0.1", r));
    try {
      const relayed = relayedAddressOf(await client.allocate());
      assert.equal((await client.createPermission("127.0.0.1")).errorCode, undefined);
      const send = (b: Buffer) => peer.send(b, relayed.port, "127.0.0.1");

      // without a channel: Data indications
      send(Buffer.from([0x7f]));
      const one = await client.receive((m) => m.readUInt16BE(0) === 0x0017);
      const dataAt = one.indexOf(Buffer.from([0x00, 0x13, 0x00, 0x01]));
      assert.ok(dataAt > 0);
      assert.equal(one[dataAt + 4], 0x7f);
      // 0x40 0x00 0x00 0x02 ...: a plausible ChannelData header (0.0.6 stripped it)
      const tricky = Buffer.from([0x40, 0x00, 0x00, 0x02, 0xaa, 0xbb]);
      send(tricky);
      const ind = await client.receive((m) => m.readUInt16BE(0) === 0x0017);
      assert.ok(ind.includes(tricky));

      // with a channel: ChannelData of the exact length
      assert.equal((await client.channelBind(0x4001, "127.0.0.1", peer.address().port)).errorCode, undefined);
      send(Buffer.from([0x01]));
      const cd = await client.receive((m) => m.readUInt16BE(0) === 0x4001);
      assert.equal(cd.readUInt16BE(2), 1);
      assert.equal(cd[4], 0x01);
      send(tricky);
      const cd2 = await client.receive((m) => m.readUInt16BE(0) === 0x4001);
      assert.deepEqual(cd2.subarray(4, 4 + cd2.readUInt16BE(2)), tricky);

      // and the other way: a 1-byte ChannelData from the client reaches the peer
      const got = new Promise<Buffer>((r) => peer.once("message", r));
      client.send(Buffer.from([0x40, 0x01, 0x00, 0x01, 0x99, 0, 0, 0]));
      assert.deepEqual(await got, Buffer.from([0x99]));
    } finally {
      peer.close();
      await client.close();
    }
  });
});
