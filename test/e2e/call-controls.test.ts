import jwt from "jsonwebtoken";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRoom } from "../helpers/server.js";
import { allDecodeFromAll, joinAll, eventually, info, join, stats, type CallPage, callFixture } from "./call-helpers.js";

describe("call page: waiting room and in-call controls", () => {
  const call = callFixture();

  it("a guest waits in the lobby and the host admits them from the call", async () => {
    const room = await createRoom(call.server, { waitingRoom: true, allowGuests: true, participants: [{ id: "host", name: "Dr Host", role: "host" }] });
    const host = await join(call.browser, room.participants[0]!.joinUrl);
    call.open.push(host);
    await eventually("host in the call", async () => (await info(host)).phase === "in-call", { pages: [host] });

    const guest = await join(call.browser, `${call.server.url}/join/${room.roomId}`, { name: "Gina Guest" });
    call.open.push(guest);
    await guest.page.waitForSelector(".waiting h1", { timeout: 30_000 });
    assert.match(await guest.page.locator(".waiting h1").innerText(), /host will let you in/);

    // The host sees who is waiting and admits them with the button.
    const admit = host.page.locator(".lobby-bar button", { hasText: "Admit" });
    await admit.waitFor({ timeout: 30_000 });
    assert.match(await host.page.locator(".lobby-bar").innerText(), /Gina Guest is waiting/);
    await admit.click();

    await guest.page.waitForSelector(".room", { timeout: 30_000 });
    await allDecodeFromAll([host, guest]);
    assert.equal(await host.page.locator(".lobby-bar").isHidden(), true, "the lobby bar goes away once nobody waits");
  });

  it("screen sharing renegotiates and the other side receives the new track", async () => {
    const [host, guest] = call.open as [CallPage, CallPage];
    const hostId = (await info(host)).selfId as string;
    const before = await stats(guest);
    assert.equal(before.find((x) => x.id === hostId)?.framesDecoded.length, 1, "one video stream before sharing");

    await host.page.click("#ctl-screen");
    await eventually("the guest to decode the shared screen", async () => {
      const st = (await stats(guest)).find((x) => x.id === hostId);
      return st && st.framesDecoded.length === 2 && st.framesDecoded[1]! > 0;
    }, { pages: [host, guest] });
    await guest.page.waitForSelector(`.tile.screen[data-peer="${hostId}:screen"]`, { timeout: 20_000 });
    assert.equal((await info(guest)).remote[hostId].screen, true);

    await host.page.click("#ctl-screen");
    await guest.page.waitForSelector(`.tile.screen`, { state: "detached", timeout: 20_000 });
  });

  it("chat, raised hands and a host's mute request reach the others", async () => {
    const [host, guest] = call.open as [CallPage, CallPage];
    await guest.page.click("#ctl-chat");
    await guest.page.fill("#chat-input", "Hello from the guest");
    await guest.page.press("#chat-input", "Enter");
    await host.page.click("#ctl-chat");
    await host.page.locator(".chat-list li", { hasText: "Hello from the guest" }).waitFor({ timeout: 20_000 });

    await guest.page.click("#ctl-hand");
    const guestId = (await info(guest)).selfId as string;
    await host.page.locator(`.tile[data-peer="${guestId}"] .hand:not([hidden])`).waitFor({ timeout: 20_000 });

    // The host asks the guest to mute: the guest's microphone goes off and the host sees it.
    await host.page.click("#ctl-people");
    await host.page.locator(`.people-list li[data-peer="${guestId}"] button`, { hasText: "Mute" }).click();
    await guest.page.locator("#ctl-mic.off").waitFor({ timeout: 20_000 });
    await host.page.locator(`.tile[data-peer="${guestId}"] .mic-off:not([hidden])`).waitFor({ timeout: 20_000 });
  });

  it("the host removes a participant, who is told so", async () => {
    const [host, guest] = call.open as [CallPage, CallPage];
    const guestId = (await info(guest)).selfId as string;
    host.page.once("dialog", (d) => void d.accept());
    await host.page.locator(`.people-list li[data-peer="${guestId}"] button`, { hasText: "Remove" }).click();
    await guest.page.waitForSelector('.end-state[data-state="removed"]', { timeout: 20_000 });
    await host.page.locator(`.tile[data-peer="${guestId}"]`).waitFor({ state: "detached", timeout: 20_000 });
    await call.closePages();
  });

  it("the host ends the call for everyone", async () => {
    const room = await createRoom(call.server, { participants: [{ name: "Host", role: "host" }, { name: "Pat", role: "participant" }] });
    const [host, pat] = (await joinAll(call, room.participants)) as [CallPage, CallPage];
    await host.page.click("#ctl-leave");
    await host.page.click("#confirm-end-all");
    await pat.page.waitForSelector('.end-state[data-state="ended"]', { timeout: 20_000 });
    await host.page.waitForSelector('.end-state[data-state="ended"]', { timeout: 20_000 });
    const status = await (await call.server.api(`/api/rooms/${room.roomId}/status`)).json();
    assert.equal(status.status, "ended");
    // Opening the link again shows the ended state straight away.
    await pat.page.reload();
    await pat.page.waitForSelector('.end-state[data-state="ended"]', { timeout: 20_000 });
    await call.closePages();
  });

  it("a full room and an expired link get their own explanation", async () => {
    const room = await createRoom(call.server, { maxParticipants: 2, participants: [{ name: "One", role: "participant" }, { name: "Two", role: "participant" }, { name: "Three", role: "participant" }] });
    const one = await join(call.browser, room.participants[0]!.joinUrl);
    const three = await join(call.browser, room.participants[2]!.joinUrl);
    call.open.push(one, three);
    await eventually("two in", async () => (await info(one)).phase === "in-call" && (await info(three)).phase === "in-call", { pages: [one, three] });
    const two = await join(call.browser, room.participants[1]!.joinUrl);
    call.open.push(two);
    await two.page.waitForSelector('.end-state[data-state="full"]', { timeout: 30_000 });
    assert.match(await two.page.locator(".end-state h1").innerText(), /full/);

    // A link whose token expired a minute ago (another app minted it with the shared secret).
    const expired = jwt.sign({ sub: "late", roomId: room.roomId, role: "participant", name: "Late", exp: Math.floor(Date.now() / 1000) - 60 }, call.server.jwtSecret, { algorithm: "HS256" });
    await two.page.goto(`${call.server.url}/join/${room.roomId}?token=${expired}`);
    await two.page.waitForSelector('.end-state[data-state="expired"]', { timeout: 20_000 });
    await call.closePages();
  });
});
