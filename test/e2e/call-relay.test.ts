import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { after, before, describe, it } from "node:test";
import type { Browser } from "playwright-core";
import { createRoom, startTestServer, type TestServer } from "../helpers/server.js";
import { allDecodeFromAll, eventually, info, join, keepsFlowing, launchChromium, stats, type CallPage } from "./call-helpers.js";

/**
 * Chromium never sends to a TURN server on 127.0.0.1 (its sockets are bound
 * to interface addresses), so the relay is reached on the address of a veth
 * interface made for this test. Nothing leaves the machine.
 */
const suffix = process.pid % 200;
const IFACE = `pv${suffix}a`;
const PEER_IFACE = `pv${suffix}b`;
const ADDR = `10.213.${suffix}.1`;

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });

async function freeUdpPort(): Promise<number> {
  for (;;) {
    const port = 40_000 + Math.floor(Math.random() * 5_000);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = createSocket("udp4");
      sock.once("error", () => resolve(false));
      sock.bind(port, () => sock.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

describe("call page: through the embedded TURN relay", () => {
  let s: TestServer;
  let browser: Browser;
  const open: CallPage[] = [];
  before(async () => {
    try {
      ip("link", "del", IFACE);
    } catch {
      /* left from an earlier run or absent */
    }
    ip("link", "add", IFACE, "type", "veth", "peer", "name", PEER_IFACE);
    ip("addr", "add", `${ADDR}/24`, "dev", IFACE);
    ip("link", "set", IFACE, "up");
    ip("link", "set", PEER_IFACE, "up");
    const port = await freeUdpPort();
    const relayBase = 45_000 + Math.floor(Math.random() * 40) * 100;
    s = await startTestServer({
      PARLEY_TURN: "embedded",
      PARLEY_TURN_PORT: String(port),
      PARLEY_TURN_RELAY_PORTS: `${relayBase}-${relayBase + 99}`,
      PARLEY_TURN_URLS: `stun:${ADDR}:${port},turn:${ADDR}:${port}?transport=udp`,
      PARLEY_TURN_ALLOW_PRIVATE_PEERS: "true",
    });
    browser = await launchChromium();
  });
  after(async () => {
    for (const p of open) await p.context.close().catch(() => undefined);
    await browser?.close();
    await s?.close();
    try {
      ip("link", "del", IFACE);
    } catch {
      /* already gone */
    }
    // Something of the embedded relay stays open after stop once its address vanished mid-call
    // (reported to the TURN owner); say what, and do not let it hold the test run for minutes.
    setTimeout(() => {
      console.log(`# still open after the relay suite: ${process.getActiveResourcesInfo().join(", ")}`);
      process.exit(process.exitCode ?? 0);
    }, 3_000).unref();
  });

  it("two pages forced to relay-only connect through the embedded TURN", async () => {
    const room = await createRoom(s, { participants: [{ id: "r1", name: "Relay One", role: "host" }, { id: "r2", name: "Relay Two", role: "participant" }] });
    for (const p of room.participants) open.push(await join(browser, `${p.joinUrl}&ice=relay`));
    const [a, b] = open as [CallPage, CallPage];
    await allDecodeFromAll([a, b]);
    for (const p of [a, b]) {
      const [st] = await stats(p);
      assert.equal(st?.selectedPair?.local, "relay", "our side of the selected pair is a relayed candidate");
      assert.equal(st?.selectedPair?.remote, "relay");
    }
  });

  it("the pre-join check finds the relay with the issued credentials", async () => {
    const room = await createRoom(s, { participants: [{ name: "Checker", role: "participant" }] });
    const c = await (await import("./call-helpers.js")).openCall(browser, room.participants[0]!.joinUrl);
    open.push(c);
    const turn = c.page.locator(".check", { hasText: "Relay for strict networks" });
    await c.page.waitForFunction(() => document.querySelectorAll('.check[data-status="pending"]').length === 0, undefined, { timeout: 30_000 });
    assert.equal(await turn.getAttribute("data-status"), "ok", await turn.innerText());
    const stun = c.page.locator(".check", { hasText: "Direct connection" });
    assert.equal(await stun.getAttribute("data-status"), "ok", await stun.innerText());
  });

  it("a forced ICE failure (the relay's address vanishes) recovers through ICE restart", async () => {
    const [a, b] = open as [CallPage, CallPage];
    const ufragBefore = (await stats(a))[0]!.localUfrag;
    // The network path breaks: the relay's address disappears for a while.
    ip("addr", "del", `${ADDR}/24`, "dev", IFACE);
    try {
      await eventually("ICE to notice the broken path", async () => {
        const st = (await stats(a))[0];
        return st && st.connectionState !== "connected" ? true : undefined;
      }, { pages: [a, b], timeoutMs: 60_000 });
      // Long enough that waiting for it to heal is not an option: the pages must restart ICE.
      await new Promise((r) => setTimeout(r, 8_000));
    } finally {
      ip("addr", "add", `${ADDR}/24`, "dev", IFACE);
    }
    await eventually("both sides connected again", async () => {
      const [sa, sb] = [(await stats(a))[0], (await stats(b))[0]];
      return sa?.connectionState === "connected" && sb?.connectionState === "connected";
    }, { pages: [a, b], timeoutMs: 90_000 });
    const ia = await info(a);
    const ib = await info(b);
    assert.ok(ia.iceRestarts + ib.iceRestarts >= 1, "recovered by restarting ICE");
    assert.notEqual((await stats(a))[0]!.localUfrag, ufragBefore, "new ICE credentials after the restart");
    await keepsFlowing(a, "r2", [a, b]);
    await keepsFlowing(b, "r1", [a, b]);
  });

  it("a server restart takes the relay's allocations with it; the call comes back through the restarted relay", async () => {
    const [a, b] = open as [CallPage, CallPage];
    const restartsBefore = (await info(a)).iceRestarts + (await info(b)).iceRestarts;
    const t0 = Date.now();
    s = await s.restart();
    await eventually("both pages back on signaling", async () => {
      const [ia, ib] = [await info(a), await info(b)];
      return ia.signaling === "open" && ib.signaling === "open" ? true : undefined;
    }, { pages: [a, b], timeoutMs: 60_000 });
    await eventually("media relayed again", async () => {
      const [sa, sb] = [(await stats(a))[0], (await stats(b))[0]];
      return sa?.connectionState === "connected" && sb?.connectionState === "connected" && sa.selectedPair?.local === "relay" && sb.selectedPair?.local === "relay";
    }, { pages: [a, b], timeoutMs: 90_000 });
    await keepsFlowing(a, "r2", [a, b]);
    await keepsFlowing(b, "r1", [a, b]);
    // "connected" lingers until consent checks fail, so the figure is taken once frames grow again.
    console.log(`# relayed video flowing both ways again ${Date.now() - t0} ms after the restart began`);
    // The old allocations died with the process: only new ones (after an ICE restart or a new link) carry media now.
    const allocations = Number(/^parley_turn_allocations(?:\{[^}]*\})? (\d+)/m.exec(await (await fetch(`${s.url}/metrics`)).text())?.[1] ?? 0);
    assert.ok(allocations >= 2, `the restarted relay holds the call's allocations (${allocations})`);
    const ia = await info(a);
    const ib = await info(b);
    assert.ok(ia.iceRestarts + ib.iceRestarts > restartsBefore || ia.reconnections + ib.reconnections >= 2, "recovered by the pages, not by luck");
  });
});
