import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, it } from "node:test";
import { webhookTuning } from "../src/events/webhooks.js";
import { createRoom, startTestServer, type TestServer } from "./helpers/server.js";
import { waitUntil } from "./helpers/wait.js";

const SECRET = "receiver-shared-secret-0123456789";

interface Hit {
  deliveryId: string;
  signatureOk: boolean;
  body: { id: string; type: string; timestamp: string; data: Record<string, unknown> };
  answered: number;
}

/** A real HTTP receiver that checks every signature the way the README tells integrators to. */
async function startReceiver(answer: (n: number, hit: Omit<Hit, "answered">) => number | "hang") {
  const hits: Hit[] = [];
  const read = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve(Buffer.concat(chunks)));
    });
  const server: Server = createServer(async (req, res) => {
    const raw = await read(req);
    const expected = Buffer.from("sha256=" + createHmac("sha256", SECRET).update(raw).digest("hex"));
    const given = Buffer.from(String(req.headers["x-parley-signature"] ?? ""));
    const signatureOk = given.length === expected.length && timingSafeEqual(given, expected);
    const hit = { deliveryId: String(req.headers["x-parley-delivery"]), signatureOk, body: JSON.parse(raw.toString()) };
    const status = answer(hits.length + 1, hit);
    if (status === "hang") {
      hits.push({ ...hit, answered: 0 });
      return; // never answers
    }
    hits.push({ ...hit, answered: status });
    res.writeHead(status).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/parley`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const until = <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000) => waitUntil(what, fn, { timeoutMs });

const saved = { ...webhookTuning };
afterEach(() => Object.assign(webhookTuning, saved));

async function register(s: TestServer, url: string, events: string[] = ["room-ended"]) {
  const res = await s.api("/api/webhooks", { method: "POST", json: { url, events, secret: SECRET } });
  assert.equal(res.status, 201);
  return (await res.json()) as { id: string; url: string; events: string[] };
}

describe("signed webhooks", () => {
  it("retries a failing receiver with back-off; every attempt is signed and the third one lands", async () => {
    webhookTuning.baseDelayMs = 200;
    const receiver = await startReceiver((n) => (n <= 2 ? 500 : 200));
    const s = await startTestServer();
    try {
      const hook = await register(s, receiver.url);
      assert.equal((hook as Record<string, unknown>).secret, undefined, "the secret is never echoed");
      const room = await createRoom(s);
      await s.api(`/api/rooms/${room.roomId}/end`, { method: "POST", json: { reason: "session_completed" } });
      await until("three attempts", () => receiver.hits.length >= 3);
      await new Promise((r) => setTimeout(r, 800));
      assert.equal(receiver.hits.length, 3, "no attempt after the 2xx");
      assert.ok(receiver.hits.every((h) => h.signatureOk), "every signature verifies");
      assert.equal(new Set(receiver.hits.map((h) => h.deliveryId)).size, 1, "one delivery id across retries");
      const body = receiver.hits[2]!.body;
      assert.equal(body.id, receiver.hits[2]!.deliveryId);
      assert.equal(body.type, "room-ended");
      assert.equal(body.data.roomId, room.roomId);
      assert.equal(body.data.reason, "session_completed");
      assert.ok(!Number.isNaN(Date.parse(body.timestamp)));

      const log = await (await s.api(`/api/webhooks/${hook.id}/deliveries`)).json();
      assert.equal(log.deliveries.length, 1);
      assert.equal(log.deliveries[0].status, "delivered");
      assert.equal(log.deliveries[0].attempts, 3);
      assert.equal(log.deliveries[0].lastStatusCode, 200);
      // The log keeps every try, not only the last: how the receiver answered, when, and how fast.
      const tries = log.deliveries[0].attemptLog as { attempt: number; at: string; statusCode: number | null; error: string | null; durationMs: number }[];
      assert.deepEqual(tries.map((t) => [t.attempt, t.statusCode, t.error]), [[1, 500, "receiver answered 500"], [2, 500, "receiver answered 500"], [3, 200, null]]);
      assert.ok(tries.every((t, i) => i === 0 || Date.parse(t.at) > Date.parse(tries[i - 1]!.at)), "in order, backed off");
      assert.ok(tries.every((t) => t.durationMs >= 0 && t.durationMs < 10_000));
      const list = await (await s.api("/api/webhooks")).json();
      assert.deepEqual(list.webhooks[0].deliveries, { delivered: 1 });
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      assert.match(metrics, /parley_webhook_attempts_total\{result="retry"\} 2/);
      assert.match(metrics, /parley_webhook_attempts_total\{result="delivered"\} 1/);
      assert.match(metrics, /parley_webhook_deliveries_pending 0/);
    } finally {
      await s.close();
      await receiver.close();
    }
  });

  it("delivers a pending delivery exactly once after a server restart", async () => {
    webhookTuning.baseDelayMs = 1500;
    let up = false;
    const receiver = await startReceiver(() => (up ? 200 : 503));
    let s = await startTestServer();
    try {
      const hook = await register(s, receiver.url, ["room-started", "room-ended"]);
      const a = await createRoom(s);
      const b = await createRoom(s);
      await s.api(`/api/rooms/${a.roomId}/end`, { method: "POST", json: {} });
      await s.api(`/api/rooms/${b.roomId}/end`, { method: "POST", json: {} });
      await until("first attempts", () => new Set(receiver.hits.map((h) => h.deliveryId)).size === 2);
      await s.stop();
      up = true;
      s = await s.restart();
      await until("delivered after restart", async () => {
        const log = await (await s.api(`/api/webhooks/${hook.id}/deliveries`)).json();
        return log.deliveries.length === 2 && log.deliveries.every((d: { status: string }) => d.status === "delivered");
      });
      await new Promise((r) => setTimeout(r, 500));
      const successes = receiver.hits.filter((h) => h.answered === 200);
      assert.equal(successes.length, 2);
      assert.equal(new Set(successes.map((h) => h.deliveryId)).size, 2, "each delivery id succeeded once");
      assert.ok(receiver.hits.every((h) => h.signatureOk));
      assert.deepEqual(new Set(successes.map((h) => h.body.data.roomId)), new Set([a.roomId, b.roomId]));
      // Attempts made before the restart are still in the log, beside the one that landed after it.
      const log = await (await s.api(`/api/webhooks/${hook.id}/deliveries`)).json();
      for (const d of log.deliveries) {
        const codes = d.attemptLog.map((t: { statusCode: number | null }) => t.statusCode);
        assert.equal(codes.at(-1), 200);
        assert.ok(codes.slice(0, -1).length >= 1 && codes.slice(0, -1).every((c: number | null) => c === 503), JSON.stringify(codes));
        assert.equal(d.attemptLog.length, d.attempts);
      }
    } finally {
      await s.close();
      await receiver.close();
    }
  });

  it("a receiver that never answers does not hold up the API and is recorded as a timeout", async () => {
    webhookTuning.timeoutMs = 300;
    webhookTuning.baseDelayMs = 60_000;
    const receiver = await startReceiver(() => "hang");
    const s = await startTestServer();
    try {
      const hook = await register(s, receiver.url, ["*"]);
      const room = await createRoom(s);
      const end = await s.api(`/api/rooms/${room.roomId}/end`, { method: "POST", json: {} });
      assert.equal(end.status, 200);
      const d = await until("a timed-out attempt", async () => {
        const log = await (await s.api(`/api/webhooks/${hook.id}/deliveries`)).json();
        return log.deliveries.find((x: { lastError: string | null }) => x.lastError) as { status: string; lastError: string; nextAttemptAt: string } | undefined;
      });
      assert.equal(d.status, "pending");
      assert.match(d.lastError, /no answer within 300 ms/);
      assert.ok(Date.parse(d.nextAttemptAt) > Date.now());
    } finally {
      await s.close();
      await receiver.close();
    }
  });

  it("validates registrations, filters by room and removes webhooks", async () => {
    const s = await startTestServer();
    try {
      assert.equal((await s.api("/api/webhooks", { method: "POST", json: { url: "ftp://x", events: ["room-ended"], secret: SECRET } })).status, 400);
      assert.equal((await s.api("/api/webhooks", { method: "POST", json: { url: "http://127.0.0.1:9/x", events: ["nope"], secret: SECRET } })).status, 400);
      assert.equal((await s.api("/api/webhooks", { method: "POST", json: { url: "http://127.0.0.1:9/x", events: ["room-ended"], secret: "short" } })).status, 400);
      assert.equal((await fetch(`${s.url}/api/webhooks`)).status, 401);
      const receiver = await startReceiver(() => 200);
      const only = await createRoom(s);
      const other = await createRoom(s);
      const res = await s.api("/api/webhooks", { method: "POST", json: { url: receiver.url, events: ["room-ended"], secret: SECRET, roomId: only.roomId } });
      const hook = await res.json();
      await s.api(`/api/rooms/${other.roomId}/end`, { method: "POST", json: {} });
      await s.api(`/api/rooms/${only.roomId}/end`, { method: "POST", json: {} });
      await until("one delivery", () => receiver.hits.length >= 1);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(receiver.hits.length, 1);
      assert.equal(receiver.hits[0]!.body.data.roomId, only.roomId);
      assert.equal((await s.api(`/api/webhooks/${hook.id}`, { method: "DELETE" })).status, 204);
      assert.equal((await s.api(`/api/webhooks/${hook.id}`, { method: "DELETE" })).status, 404);
      assert.deepEqual((await (await s.api("/api/webhooks")).json()).webhooks, []);
      await receiver.close();
    } finally {
      await s.close();
    }
  });
});
