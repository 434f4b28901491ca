import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestServer, type TestServer } from "./helpers/server.js";

describe("operations surface", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it("answers /health with live figures", async () => {
    const res = await fetch(s.url + "/health");
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status, "ok");
    assert.equal(typeof body.version, "string");
    assert.equal(typeof body.uptime, "number");
    assert.equal(body.activeRooms, 0);
    assert.equal(body.connections, 0);
  });

  it("answers 503 starting until every capability has started, then 200", async () => {
    // A capability that starts slowly (like the TURN relay binding) holds the server in "starting"
    // while the port is already open.
    let release!: () => void;
    let port!: Promise<number>;
    let portKnown!: (p: number) => void;
    port = new Promise((r) => (portKnown = r));
    const slowStart = () => ({
      name: "slow-start",
      start: ({ server }: { server: import("node:http").Server }) => {
        portKnown((server.address() as import("node:net").AddressInfo).port);
        return new Promise<void>((r) => (release = r));
      },
    });
    const starting = startTestServer({}, { extra: [slowStart] });
    const url = `http://127.0.0.1:${await port}/health`;
    const early = await fetch(url);
    assert.equal(early.status, 503);
    assert.equal(early.headers.get("content-type"), "application/problem+json");
    assert.equal((await early.json()).code, "starting");
    release();
    const slow = await starting;
    try {
      const ready = await fetch(url);
      assert.equal(ready.status, 200);
      assert.equal((await ready.json()).status, "ok");
      assert.equal(slow.running.ctx.phase, "ready");
      const stopped = slow.stop();
      assert.equal(slow.running.ctx.phase, "stopping", "a stop marks the server unhealthy before it drains");
      await stopped;
    } finally {
      await slow.close();
    }
  });

  it("serves Prometheus metrics", async () => {
    const res = await fetch(s.url + "/metrics");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/plain/);
    assert.match(await res.text(), /parley_http_requests_total/);
  });

  it("describes every room route in /openapi.json, with request schemas", async () => {
    const doc = await (await fetch(s.url + "/openapi.json")).json();
    assert.equal(doc.openapi, "3.1.0");
    for (const p of ["/api/rooms", "/api/rooms/create", "/api/rooms/{roomId}/status", "/api/rooms/{roomId}/end", "/api/rooms/{roomId}/config", "/api/rooms/{roomId}/tokens", "/api/rooms/bulk-status", "/api/rooms/{roomId}/pre-warm"]) {
      assert.ok(doc.paths[p], `missing ${p}`);
    }
    const create = doc.paths["/api/rooms"].post.requestBody.content["application/json"].schema;
    assert.equal(create.properties.maxParticipants.type, "integer");
    const docs = await fetch(s.url + "/docs");
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /openapi\.json/);
  });

  it("answers unknown routes with problem+json 404", async () => {
    const res = await fetch(s.url + "/nope");
    assert.equal(res.status, 404);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    const body = await res.json();
    assert.equal(body.code, "not_found");
    assert.equal(body.status, 404);
  });

  it("sends secure headers", async () => {
    const res = await fetch(s.url + "/health");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'self'/);
    assert.ok(res.headers.get("x-request-id"));
  });
});

describe("logs and CORS", () => {
  it("never writes tokens or keys to the log", async () => {
    const lines: string[] = [];
    const s = await startTestServer({ PARLEY_LOG_LEVEL: "debug" }, { logLines: lines });
    try {
      const created = await (await s.api("/api/rooms", { method: "POST", json: { participants: [{ name: "A", role: "host" }] } })).json();
      const token = created.participants[0].token as string;
      await fetch(`${s.url}/join/${created.roomId}?token=${encodeURIComponent(token)}`);
      await fetch(`${s.url}/api/rooms/${created.roomId}/status?token=${encodeURIComponent(token)}`, { headers: { authorization: `Bearer ${s.apiKey}` } });
      await fetch(`${s.url}/api/rooms`, { headers: { authorization: `Bearer ${token}` } });
      assert.ok(lines.length >= 4, "requests were logged");
      const all = lines.join("\n");
      assert.ok(all.includes(`/api/rooms/${created.roomId}/status`), "paths are logged");
      for (const secret of [token, s.apiKey, s.jwtSecret, token.split(".")[2]!]) assert.ok(!all.includes(secret), "a secret leaked into the log");
      assert.ok(lines.every((l) => JSON.parse(l).app === "parley"), "structured JSON lines");
      assert.ok(lines.filter((l) => l.includes('"request"')).every((l) => JSON.parse(l).reqId), "each request line has its request id");
    } finally {
      await s.close();
    }
  });

  it("answers CORS preflights only for configured origins", async () => {
    const s = await startTestServer({ PARLEY_CORS_ORIGINS: "https://app.clinic.example" });
    try {
      const pre = (origin: string) =>
        fetch(`${s.url}/api/rooms`, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" } });
      const ok = await pre("https://app.clinic.example");
      assert.equal(ok.status, 204);
      assert.equal(ok.headers.get("access-control-allow-origin"), "https://app.clinic.example");
      assert.match(ok.headers.get("access-control-allow-headers") ?? "", /Authorization/i);
      const other = await pre("https://evil.example");
      assert.notEqual(other.headers.get("access-control-allow-origin"), "https://evil.example");
    } finally {
      await s.close();
    }
  });
});
