import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join as pathJoin } from "node:path";
import { after, describe, it } from "node:test";
import { createRoom } from "../helpers/server.js";
import { allDecodeFromAll, artifactsDir, clickJoin, DESKTOP, join, openCall, PHONE, type CallPage, callFixture } from "./call-helpers.js";

describe("call page: screenshots at desktop and phone sizes", () => {
  const call = callFixture();
  const dir = artifactsDir();
  const shots: string[] = [];
  const shoot = async (c: CallPage, name: string) => {
    const path = pathJoin(dir, `${name}.png`);
    await c.page.waitForTimeout(600); // let layout and the first frames settle
    await c.page.screenshot({ path });
    assert.ok(statSync(path).size > 5_000, `${name} is a real picture`);
    shots.push(path);
  };
  after(() => console.log(`# screenshots in ${dir}:\n${shots.map((p) => `#   ${p}`).join("\n")}`));

  it("pre-join screen", async () => {
    const room = await createRoom(call.server, { title: "Physio follow-up", allowGuests: true, participants: [{ name: "Maria Lopez", role: "participant" }] });
    for (const [size, viewport] of [["desktop", DESKTOP], ["phone", PHONE]] as const) {
      const c = await openCall(call.browser, room.participants[0]!.joinUrl, { viewport });
      call.open.push(c);
      await c.page.waitForFunction(() => document.querySelectorAll('.check[data-status="pending"]').length === 0, undefined, { timeout: 30_000 });
      await shoot(c, `prejoin-${size}`);
      const g = await openCall(call.browser, `${call.server.url}/join/${room.roomId}`, { viewport });
      call.open.push(g);
      await g.page.waitForSelector("#guest-name");
      await g.page.waitForFunction(() => document.querySelectorAll('.check[data-status="pending"]').length === 0, undefined, { timeout: 30_000 });
      await shoot(g, `prejoin-guest-${size}`);
    }
    for (const p of call.open.splice(0)) await p.context.close();
  });

  it("a three-person call", async () => {
    const room = await createRoom(call.server, {
      title: "Care team check-in",
      participants: [
        { id: "dr", name: "Dr Amira Haddad", role: "host" },
        { id: "pt", name: "Tom Becker", role: "participant" },
        { id: "rn", name: "Nurse Kim", role: "participant" },
      ],
    });
    for (const p of room.participants) call.open.push(await join(call.browser, p.joinUrl));
    await allDecodeFromAll(call.open);
    const [host, , nurse] = call.open as [CallPage, CallPage, CallPage];
    await shoot(host, "call3-desktop");
    await host.page.click("#ctl-people");
    await shoot(host, "call3-desktop-people");
    await nurse.page.setViewportSize(PHONE);
    await shoot(nurse, "call3-phone");
    await nurse.page.click("#ctl-chat");
    await shoot(nurse, "call3-phone-chat");
    for (const p of call.open.splice(0)) await p.context.close();
  });

  it("the waiting room, and the host's lobby bar", async () => {
    const room = await createRoom(call.server, { title: "Intake", waitingRoom: true, allowGuests: true, participants: [{ name: "Dr Host", role: "host" }] });
    const host = await join(call.browser, room.participants[0]!.joinUrl);
    call.open.push(host);
    await host.page.waitForSelector(".room");
    for (const [size, viewport] of [["desktop", DESKTOP], ["phone", PHONE]] as const) {
      const g = await openCall(call.browser, `${call.server.url}/join/${room.roomId}`, { viewport });
      call.open.push(g);
      await clickJoin(g, size === "phone" ? "Sam Phone" : "Alex Desktop");
      await g.page.waitForSelector(".waiting h1", { timeout: 30_000 });
      await shoot(g, `waiting-${size}`);
    }
    await host.page.locator(".lobby-bar button", { hasText: "Admit" }).first().waitFor({ timeout: 20_000 });
    await shoot(host, "host-lobby-desktop");
  });
});
