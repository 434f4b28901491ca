import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { after, before, describe, it } from "node:test";
import type { Browser } from "playwright-core";
import { createRoom, startTestServer, type TestServer } from "../helpers/server.js";
import { allDecodeFromAll, clickJoin, eventually, info, join, keepsFlowing, launchChromium, openCall, type CallPage } from "./call-helpers.js";

/** Participant id of a /ws upgrade, read from its token (the test only needs to tell sockets apart). */
function participantOf(req: IncomingMessage): string | undefined {
  const token = new URL(req.url ?? "/", "http://x").searchParams.get("token");
  if (!token) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { sub?: string; userId?: string };
    return claims.sub ?? claims.userId;
  } catch {
    return undefined;
  }
}

describe("call page: bad networks", () => {
  let s: TestServer;
  let browser: Browser;
  const open: CallPage[] = [];
  /** Server side of every signaling socket, by participant id (latest last). */
  const sockets = new Map<string, Duplex[]>();
  const closeAll = async () => {
    for (const p of open.splice(0)) await p.context.close().catch(() => undefined);
  };
  before(async () => {
    s = await startTestServer();
    s.running.server.on("upgrade", (req: IncomingMessage, socket: Duplex) => {
      if (!req.url?.startsWith("/ws?")) return;
      const id = participantOf(req);
      if (id) sockets.set(id, [...(sockets.get(id) ?? []), socket]);
    });
    browser = await launchChromium();
  });
  after(async () => {
    await closeAll();
    await browser?.close();
    await s?.close();
  });

  /** Cuts a participant's live signaling socket the way a network does: no close frame. */
  const cut = (id: string) => {
    const live = (sockets.get(id) ?? []).filter((x) => !x.destroyed);
    assert.ok(live.length > 0, `${id} has a live socket to cut`);
    for (const x of live) x.destroy();
  };

  it("a page whose WebSockets are blocked joins by long-poll and exchanges video with a WebSocket page", async () => {
    const room = await createRoom(s, { participants: [{ id: "ws-user", name: "Socket Sam", role: "host" }, { id: "poll-user", name: "Poll Polly", role: "participant" }] });
    const wsPage = await join(browser, room.participants[0]!.joinUrl);
    const pollPage = await openCall(browser, room.participants[1]!.joinUrl, {
      // Like a proxy that refuses WebSocket upgrades: every WebSocket the page opens is closed at once.
      setup: async (_ctx, page) => page.routeWebSocket(/.*/, (ws) => void ws.close({ code: 1008, reason: "blocked by test proxy" })),
    });
    open.push(wsPage, pollPage);
    // The pre-join check tells the person in plain words, before they join.
    const wsCheck = pollPage.page.locator(".check", { hasText: "Connection to the call service" });
    await pollPage.page.waitForFunction(() => document.querySelectorAll('.check[data-status="pending"]').length === 0, undefined, { timeout: 30_000 });
    assert.equal(await wsCheck.getAttribute("data-status"), "warn");
    assert.match(await wsCheck.innerText(), /slower backup that still works/);
    await clickJoin(pollPage);
    await allDecodeFromAll([wsPage, pollPage]);
    assert.equal((await info(pollPage)).transport, "poll");
    assert.equal((await info(wsPage)).transport, "ws");

    // Signaling keeps working both ways over the mixed transports: chat from the poller.
    await pollPage.page.click("#ctl-chat");
    await pollPage.page.fill("#chat-input", "sent by long-poll");
    await pollPage.page.press("#chat-input", "Enter");
    await wsPage.page.locator(".toast, .chat-list li", { hasText: "sent by long-poll" }).first().waitFor({ timeout: 20_000 });
    await closeAll();
  });

  it("resumes after the server side of its socket is cut, and the media keeps flowing", async () => {
    const room = await createRoom(s, { participants: [{ id: "alma", name: "Alma", role: "host" }, { id: "bo", name: "Bo", role: "participant" }] });
    const a = await join(browser, room.participants[0]!.joinUrl);
    const b = await join(browser, room.participants[1]!.joinUrl);
    open.push(a, b);
    await allDecodeFromAll([a, b]);
    const before = await info(b);

    cut("bo");
    await eventually("Bo to reconnect", async () => {
      const i = await info(b);
      return i.reconnections >= 1 && i.signaling === "open" && i.transport === "ws";
    }, { pages: [a, b] });
    const afterCut = await info(b);
    assert.equal(afterCut.links.alma, "connected", "the peer connection survived the signaling outage");
    assert.ok(afterCut.lastSeq >= before.lastSeq);
    await keepsFlowing(a, "bo", [a, b]);
    await keepsFlowing(b, "alma", [a, b]);
    // Alma never saw Bo leave: the resume was seamless for the others.
    assert.deepEqual((await info(a)).peers, ["bo"]);

    // Messages still flow on the resumed socket.
    await a.page.click("#ctl-hand");
    await b.page.locator('.tile[data-peer="alma"] .hand:not([hidden])').waitFor({ timeout: 20_000 });
  });

  it("switches to long-poll when its WebSocket keeps dropping", async () => {
    const [a, b] = open as [CallPage, CallPage];
    // Three drops within a minute (the one above counts) mean this network breaks WebSockets.
    for (let i = 0; i < 3 && (await info(b)).transport === "ws"; i++) {
      await eventually("a live socket for Bo", async () => (sockets.get("bo") ?? []).some((x) => !x.destroyed) && (await info(b)).signaling === "open", { pages: [a, b] });
      cut("bo");
      await new Promise((r) => setTimeout(r, 1_000));
    }
    await eventually("Bo on long-poll", async () => {
      const i = await info(b);
      return i.transport === "poll" && i.signaling === "open";
    }, { pages: [a, b] });
    await keepsFlowing(a, "bo", [a, b]);
    await a.page.click("#ctl-hand");
    await b.page.locator('.tile[data-peer="alma"] .hand').waitFor({ state: "hidden", timeout: 20_000 });
    await closeAll();
  });
});
