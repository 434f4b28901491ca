import jwt from "jsonwebtoken";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { createRoom, startTestServer, type TestServer } from "./helpers/server.js";

/** The JSON the join page embeds for the browser code. */
function bootOf(html: string): Record<string, any> {
  const m = /<script id="parley-boot" type="application\/json">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, "the page embeds its boot JSON");
  return JSON.parse(m[1]!);
}

describe("call page serving", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it("serves the call page for a join link with a token, without caching it", async () => {
    const room = await createRoom(s, { title: "Follow-up", participants: [{ name: "Dana", role: "participant" }] });
    const res = await fetch(room.participants[0]!.joinUrl);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
    const html = await res.text();
    assert.match(html, /<title>Follow-up · Parley<\/title>/);
    assert.match(html, /<script src="\/app\/call\.js\?v=[\w-]+" defer><\/script>/);
    const boot = bootOf(html);
    assert.equal(boot.roomId, room.roomId);
    assert.equal(boot.room.exists, true);
    assert.equal(boot.room.title, "Follow-up");
    assert.equal(boot.tokenError, null);
  });

  it("serves the page without a token and says whether guests may join", async () => {
    const open = await createRoom(s, { allowGuests: true, waitingRoom: true });
    const closed = await createRoom(s, {});
    const a = bootOf(await (await fetch(`${s.url}/join/${open.roomId}`)).text());
    assert.equal(a.room.allowGuests, true);
    assert.equal(a.room.waitingRoom, true);
    const b = bootOf(await (await fetch(`${s.url}/join/${closed.roomId}`)).text());
    assert.equal(b.room.allowGuests, false);
  });

  it("tells the page about an expired link, an ended room and an unknown room", async () => {
    const room = await createRoom(s, {});
    const expired = jwt.sign({ sub: "p1", roomId: room.roomId, role: "participant", name: "P", exp: Math.floor(Date.now() / 1000) - 60 }, s.jwtSecret, {
      algorithm: "HS256",
    });
    const r1 = await fetch(`${s.url}/join/${room.roomId}?token=${expired}`);
    assert.equal(r1.status, 401);
    assert.equal(bootOf(await r1.text()).tokenError.code, "token_expired");

    const other = await createRoom(s, {});
    const wrongRoom = jwt.sign({ sub: "p2", roomId: other.roomId, role: "participant", name: "P", exp: Math.floor(Date.now() / 1000) + 600 }, s.jwtSecret, {
      algorithm: "HS256",
    });
    const r2 = await fetch(`${s.url}/join/${room.roomId}?token=${wrongRoom}`);
    assert.equal(r2.status, 403);
    assert.equal(bootOf(await r2.text()).tokenError.code, "token_room_mismatch");

    const ended = await createRoom(s, {});
    assert.equal((await s.api(`/api/rooms/${ended.roomId}/end`, { method: "POST", json: {} })).status, 200);
    const r3 = await fetch(`${s.url}/join/${ended.roomId}`);
    assert.equal(r3.status, 410);
    assert.equal(bootOf(await r3.text()).room.status, "ended");

    const r4 = await fetch(`${s.url}/join/no-such-room`);
    assert.equal(r4.status, 404);
    assert.equal(bootOf(await r4.text()).room.exists, false);
  });

  it("cannot be broken out of by a room title", async () => {
    const room = await createRoom(s, { title: `</script><script>alert(1)</script>"&` });
    const html = await (await fetch(`${s.url}/join/${room.roomId}`)).text();
    assert.ok(!html.includes("<script>alert(1)"), "the title is escaped everywhere");
    assert.equal(bootOf(html).room.title, `</script><script>alert(1)</script>"&`);
  });

  it("serves the bundle with revalidation, or cached for a year when versioned", async () => {
    const html = await (await fetch(`${s.url}/join/x`)).text();
    const src = /src="(\/app\/call\.js\?v=[\w-]+)"/.exec(html)![1]!;
    const versioned = await fetch(s.url + src);
    assert.equal(versioned.status, 200);
    assert.match(versioned.headers.get("content-type") ?? "", /text\/javascript/);
    assert.match(versioned.headers.get("cache-control") ?? "", /immutable/);
    assert.ok((await versioned.arrayBuffer()).byteLength > 1000);

    const plain = await fetch(`${s.url}/app/call.js`);
    assert.equal(plain.headers.get("cache-control"), "no-cache");
    const etag = plain.headers.get("etag");
    assert.ok(etag);
    await plain.arrayBuffer();
    const again = await fetch(`${s.url}/app/call.js`, { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);

    const css = await fetch(`${s.url}/app/call.css`);
    assert.equal(css.status, 200);
    assert.match(css.headers.get("content-type") ?? "", /text\/css/);
  });

  it("refuses paths outside the assets folder", async () => {
    for (const p of ["/app/../package.json", "/app/%2e%2e/package.json", "/app/.hidden", "/app/..%2fpackage.json"]) {
      const res = await fetch(s.url + p);
      assert.equal(res.status, 404, p);
      assert.doesNotMatch(await res.text(), /"dependencies"/);
    }
  });

  it("answers the WebSocket probe of the pre-join check", async () => {
    const ws = new WebSocket(`${s.wsUrl}/ws-probe`);
    const msg = await new Promise<string>((resolve, reject) => {
      ws.once("message", (d) => resolve(String(d)));
      ws.once("error", reject);
    });
    assert.equal(msg, "ok");
    ws.close();
  });
});
