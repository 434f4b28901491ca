import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { describe, it } from "node:test";
import { createRoom, startTestServer } from "./helpers/server.js";
import {
  boundUdpPorts,
  fetchCredentials,
  freeUdpPort,
  participantOf,
  relayedAddressOf,
  runUclient,
  startTurnServer,
  StunClient,
  type TurnCredentialBody,
} from "./helpers/turn.js";

describe("TURN relay lifecycle", () => {
  it("closes the listening socket and every relay socket on graceful shutdown", async () => {
    const s = await startTurnServer();
    const p = await participantOf(s);
    const c = (await (await fetchCredentials(s, p.token)).json()) as TurnCredentialBody;
    const clients = await Promise.all([0, 1, 2].map(() => StunClient.open({ host: "127.0.0.1", port: s.turnPort }, c.username, c.password)));
    try {
      for (const cl of clients) relayedAddressOf(await cl.allocate());
      assert.equal((await boundUdpPorts(s.relayPorts.min, s.relayPorts.max)).length, 3);
      assert.equal((await boundUdpPorts(s.turnPort, s.turnPort)).length, 1);
      await s.close();
      assert.deepEqual(await boundUdpPorts(s.relayPorts.min, s.relayPorts.max), []);
      assert.deepEqual(await boundUdpPorts(s.turnPort, s.turnPort), []);
    } finally {
      for (const cl of clients) await cl.close();
    }
  });

  it("still refuses a removed participant's credential after a restart", async () => {
    const s = await startTurnServer();
    const p = await participantOf(s);
    const c = (await (await fetchCredentials(s, p.token)).json()) as TurnCredentialBody;
    s.running.ctx.rooms.markRemoved(p.roomId, p.participantId, "host");
    const again = await s.restart();
    try {
      const r = await runUclient(["-y", "-c", "-u", c.username, "-w", c.password, "-p", String(s.turnPort), "-n", "5", "127.0.0.1"], 30_000);
      assert.equal(r.received, 0);
      assert.ok(r.errors.length > 0, r.output.slice(-400));
      // someone else in the same room is unaffected
      const other = await createRoom(again, { participants: [{ name: "Bo", role: "participant" }] });
      const oc = (await (await fetchCredentials(again, other.participants[0]!.token)).json()) as TurnCredentialBody;
      const ok = await runUclient(["-y", "-c", "-u", oc.username, "-w", oc.password, "-p", String(s.turnPort), "-n", "5", "127.0.0.1"]);
      assert.equal(ok.lostPackets, 0);
    } finally {
      await again.close();
    }
  });

  it("fails to start with one clear line naming PARLEY_TURN_PORT when the port is taken", async () => {
    const port = await freeUdpPort();
    const squatter = createSocket("udp4");
    await new Promise<void>((r) => squatter.bind(port, "0.0.0.0", r));
    try {
      await assert.rejects(
        startTestServer({ PARLEY_TURN: "embedded", PARLEY_TURN_PORT: String(port) }),
        (err: Error) => {
          assert.match(err.message, /^PARLEY_TURN_PORT: UDP port \d+ is already in use/);
          assert.doesNotMatch(err.message, /\n/);
          return true;
        },
      );
    } finally {
      squatter.close();
    }
    // and the HTTP side of the failed start did not stay behind: the port can be used now
    const s = await startTurnServer();
    await s.close();
  });
});
