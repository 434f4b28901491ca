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
