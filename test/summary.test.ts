import assert from "node:assert/strict";
import { eq } from "drizzle-orm";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { roomSummaries, transcriptSegments } from "../src/db/schema.js";
import { Peer, sleep } from "./helpers/signaling.js";
import { createRoom, startTestServer } from "./helpers/server.js";

describe("visit summaries", () => {
  it("say who never came, keep talk time null without reports, and count transcripts when there are some", async () => {
    const s = await startTestServer();
    try {
      const room = await createRoom(s, { participants: [{ id: "host-1", name: "Host", role: "host" }, { id: "absent-1", name: "Absent", role: "participant" }] });
      const host = await Peer.join(s, room.participants[0]!.token);
      await sleep(1200);
      s.running.ctx.db
        .insert(transcriptSegments)
        .values([
          { roomId: room.roomId, streamId: "st-1", seq: 1, speaker: "Host", startMs: 0, endMs: 1500, text: "Good morning." },
          { roomId: room.roomId, streamId: "st-1", seq: 2, speaker: "Host", startMs: 2000, endMs: 2600, text: "Shall we start?" },
        ])
        .run();
      assert.equal((await s.api(`/api/rooms/${room.roomId}/summary`)).status, 409);
      await s.api(`/api/rooms/${room.roomId}/end`, { method: "POST", json: {} });
      await host.closed;
      let res: Response;
      for (;;) {
        res = await s.api(`/api/rooms/${room.roomId}/summary`);
        if (res.status === 200) break;
        await sleep(100);
      }
      const sum = await res.json();
      assert.deepEqual(
        { attended: sum.attendance["absent-1"].attended, duration: sum.attendance["absent-1"].duration, joinTime: sum.attendance["absent-1"].joinTime, joins: sum.attendance["absent-1"].joins },
        { attended: false, duration: 0, joinTime: null, joins: 0 },
      );
      assert.equal(sum.attendance["host-1"].attended, true);
      assert.ok(sum.attendance["host-1"].duration >= 1);
      assert.deepEqual(sum.summary.participantStats["host-1"], { talkTime: null, talkPercentage: null });
      assert.equal(sum.summary.transcriptionAvailable, true);
      assert.equal(sum.transcript.segments, 2);
      assert.equal(sum.chat.messages, 0);
      assert.equal((await s.api(`/api/rooms/nope/summary`)).status, 404);
    } finally {
      await s.close();
    }
  });

  it("a room whose summary was lost to a crash gets its summary at the next start", async () => {
    let s = await startTestServer();
    try {
      const room = await createRoom(s);
      await s.api(`/api/rooms/${room.roomId}/end`, { method: "POST", json: { reason: "done" } });
      await s.stop();
      // As if the process died between the end and the summary: no summary row.
      const file = new Database(join(s.dataDir, "parley.sqlite"));
      file.prepare("delete from room_summaries where room_id = ?").run(room.roomId);
      file.close();
      s = await s.restart();
      const row = s.running.ctx.db.select().from(roomSummaries).where(eq(roomSummaries.roomId, room.roomId)).get();
      assert.ok(row, "made at start, before anyone asked");
      assert.equal((row.summary as { roomId: string }).roomId, room.roomId);
      const res = await s.api(`/api/rooms/${room.roomId}/summary`);
      assert.equal(res.status, 200);
      assert.equal((await res.json()).session.endReason, "done");
    } finally {
      await s.close();
    }
  });
});
