import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join as pathJoin } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser } from "playwright-core";
import { parseMail } from "../helpers/mail.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { join, launchChromium, PHONE } from "./call-helpers.js";

describe("staff console in Chromium", () => {
  let s: TestServer;
  let browser: Browser;
  before(async () => {
    s = await startTestServer({ PARLEY_ORG_NAME: "Harbour Clinic" });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await s.close();
  });

  it("creates a room, invites by e-mail (outbox), sees the invitee join live, ends the visit and reads its summary — on a phone-sized screen", async () => {
    const context = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${s.url}/console`);
    assert.match(await page.title(), /Harbour Clinic/);

    await page.fill("#api-key", "not-the-key-at-all");
    await page.click("button[type=submit]");
    await page.waitForSelector("#login-error:not([hidden])");
    assert.match(await page.textContent("#login-error") ?? "", /not accepted/);
    await page.fill("#api-key", s.apiKey);
    await page.click("button[type=submit]");
    await page.waitForSelector("#new-room");
    assert.equal(await page.evaluate(() => sessionStorage.getItem("parley.console.apiKey")), s.apiKey);

    await page.fill("#room-title", "Console visit");
    await page.uncheck("#room-waiting");
    await page.click("#new-room button[type=submit]");
    await page.waitForFunction(() => document.querySelector("#room-title-h")?.textContent === "Console visit");
    const roomId = await page.getAttribute(".room-item.current", "data-room");
    assert.ok(roomId, "the new room is listed and selected");
    // Usable on a phone: nothing forces sideways scrolling.
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), "no horizontal overflow at 390 px");

    await page.fill("#invite-email", "pat@example.test");
    await page.fill("#invite-name", "Pat Visitor");
    await page.click("#invite-form button[type=submit]");
    await page.waitForFunction(() => /sent/.test(document.querySelector("#invite-result")?.textContent ?? ""));
    await page.waitForSelector("#invites li[data-invite]");

    const files = readdirSync(pathJoin(s.dataDir, "outbox")).filter((f) => f.endsWith(".eml"));
    assert.equal(files.length, 1);
    const mail = parseMail(readFileSync(pathJoin(s.dataDir, "outbox", files[0]!)));
    assert.match(mail.headers.to ?? "", /pat@example\.test/);
    const link = mail.text?.match(/https?:\/\/\S+\/join\/\S+/)?.[0];
    assert.ok(link, "the .eml carries the join link");
    assert.ok(link.includes(`/join/${roomId}?token=`));

    const visitor = await join(browser, link);
    await page.waitForFunction(() => /Pat Visitor/.test(document.querySelector("#connected")?.textContent ?? ""), undefined, { timeout: 30_000 });
    await page.waitForFunction(() => /participant-joined/.test(document.querySelector("#event-log")?.textContent ?? ""));

    page.on("dialog", (d) => void d.accept());
    await page.click("#end-room");
    await page.waitForFunction(() => /Pat Visitor/.test(document.querySelector("#summary table")?.textContent ?? ""), undefined, { timeout: 30_000 });
    assert.match(await page.textContent("#room-status") ?? "", /ended/);
    assert.deepEqual(errors, []);
    await visitor.context.close();
    await context.close();
  });

  it("shows who waits in the lobby of a room with a waiting room, live", async () => {
    const res = await s.api("/api/rooms", { method: "POST", json: { title: "Lobby visit", waitingRoom: true } });
    const room = await res.json();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addInitScript((key) => sessionStorage.setItem("parley.console.apiKey", key), s.apiKey);
    const page = await context.newPage();
    await page.goto(`${s.url}/console`);
    await page.click(`.room-item[data-room="${room.roomId}"]`);
    await page.waitForFunction(() => document.querySelector("#room-title-h")?.textContent === "Lobby visit");
    await page.waitForFunction(() => /Nobody is waiting/.test(document.querySelector("#lobby")?.textContent ?? ""));
    const invite = await (await s.api(`/api/rooms/${room.roomId}/invites`, { method: "POST", json: { email: "wait@example.test", name: "Wren Waiting" } })).json();
    const visitor = await join(browser, invite.joinUrl);
    await page.waitForFunction(() => /Wren Waiting/.test(document.querySelector("#lobby")?.textContent ?? ""), undefined, { timeout: 30_000 });
    assert.doesNotMatch(await page.textContent("#connected") ?? "", /Wren Waiting/, "waiting is not connected");
    await visitor.context.close();
    await context.close();
  });
});
