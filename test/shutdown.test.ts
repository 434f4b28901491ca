import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Hono } from "hono";
import { startTestServer } from "./helpers/server.js";

describe("graceful shutdown", () => {
  it("finishes in-flight requests, refuses new ones, and closes the database", async () => {
    // A route that takes a while stands in for any slow request (an upload, a long-poll).
    const slow = () => ({
      name: "slow-route",
      routes: () =>
        new Hono().get("/slow", async (c) => {
          await new Promise((r) => setTimeout(r, 800));
          return c.json({ finished: true });
        }),
    });
    const s = await startTestServer({}, { extra: [slow] });
    const inflight = fetch(`${s.url}/slow`).then(async (r) => ({ status: r.status, body: await r.json() }));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    const stopped = s.stop();
    const answered = await inflight;
    assert.deepEqual(answered, { status: 200, body: { finished: true } });
    await stopped;
    assert.ok(Date.now() - t0 < 10_000);
    await assert.rejects(fetch(`${s.url}/health`), "no new connections after stop");
    assert.equal(s.running.ctx.database.sqlite.open, false, "SQLite closed");
  });
});
