import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Peer } from "./helpers/signaling.js";
import { createRoom, startTestServer, type TestServer } from "./helpers/server.js";

describe("audit log API", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it("lists who did what in a room, filtered by action and time, and refuses rewrites", async () => {
    const room = await createRoom(s, { waitingRoom: true, participants: [{ id: "host-1", name: "Host", role: "host" }, { id: "guest-1", name: "Guest", role: "participant" }] });
    const before = new Date().toISOString();
    await s.api(`/api/rooms/${room.roomId}/invites`, { method: "POST", json: { email: "x@example.test" } });
    const host = await Peer.join(s, room.participants[0]!.token);
    const guest = await Peer.join(s, room.participants[1]!.token);
    assert.equal(guest.frames[0]!.type, "waiting");
    host.send({ type: "admit", data: { participantId: "guest-1" } });
    await guest.next("welcome");
    await s.api(`/api/rooms/${room.roomId}/end`, { method: "POST", json: { reason: "done" } });

    assert.equal((await fetch(`${s.url}/api/audit`)).status, 401);
    const all = (await (await s.api(`/api/audit?roomId=${room.roomId}`)).json()).entries as { action: string; actor: string; at: string; detail: Record<string, unknown> }[];
    const actions = all.map((e) => e.action);
    for (const a of ["room.created", "invite.created", "invite.sent", "room.ended"]) assert.ok(actions.includes(a), `missing ${a} in ${actions.join(",")}`);
    assert.ok(actions.some((a) => /admit/.test(a)), `an admit entry in ${actions.join(",")}`);
    assert.deepEqual([...all.map((e) => e.at)].sort(), all.map((e) => e.at), "oldest first");

    const sent = (await (await s.api(`/api/audit?roomId=${room.roomId}&action=invite.sent`)).json()).entries;
    assert.equal(sent.length, 1);
    assert.equal(sent[0].detail.email, "x@example.test");
    const later = (await (await s.api(`/api/audit?roomId=${room.roomId}&from=${encodeURIComponent(before)}`)).json()).entries;
    assert.ok(!later.some((e: { action: string }) => e.action === "room.created"));
    assert.equal((await s.api(`/api/audit?from=yesterday`)).status, 400);

    const sqlite = s.running.ctx.database.sqlite;
    assert.throws(() => sqlite.prepare("update audit_log set actor = 'someone else'").run(), /append-only/);
    assert.throws(() => sqlite.prepare("delete from audit_log").run(), /append-only/);
  });
});
