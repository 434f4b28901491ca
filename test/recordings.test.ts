import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { recordingConsents } from "../src/db/schema.js";
import { MAX_CHUNK_BYTES, recordingTimings } from "../src/recordings/limits.js";
import { makeWebm, split } from "./helpers/media.js";
import { createRoom, startTestServer, type TestServer } from "./helpers/server.js";
import { Peer } from "./helpers/signaling.js";

function ffprobe(file: string) {
  const out = execFileSync("ffprobe", ["-v", "error", "-show_entries", "format=duration,format_name:stream=codec_type,codec_name", "-of", "json", file]).toString();
  return JSON.parse(out) as { format: { duration?: string; format_name: string }; streams: { codec_type: string; codec_name: string }[] };
}

/** After a restart on the same port, the client's pooled keep-alive sockets point at the old server: let one request find that out. */
async function settle(s: TestServer) {
  for (let i = 0; i < 3; i++) if (await fetch(`${s.url}/health`).then(() => true, () => false)) return;
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

async function put(s: TestServer, id: string, index: number | string, token: string, body: Buffer, headers: Record<string, string> = {}) {
  return fetch(`${s.url}/api/recordings/${id}/chunks/${index}`, { method: "PUT", headers: { ...auth(token), "content-type": "application/octet-stream", ...headers }, body: new Uint8Array(body) });
}

async function startRecording(s: TestServer, token: string, body: Record<string, unknown> = { mimeType: "video/webm;codecs=vp8,opus" }) {
  return fetch(`${s.url}/api/recordings`, { method: "POST", headers: { ...auth(token), "content-type": "application/json" }, body: JSON.stringify(body) });
}

async function complete(s: TestServer, id: string, token: string, chunks: number, extra: Record<string, unknown> = {}) {
  return fetch(`${s.url}/api/recordings/${id}/complete`, { method: "POST", headers: { ...auth(token), "content-type": "application/json" }, body: JSON.stringify({ chunks, ...extra }) });
}

async function waitForStatus(s: TestServer, id: string, want: string[], timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await s.api(`/api/recordings/${id}`);
    const body = await res.json();
    if (want.includes(body.status)) return body;
    if (Date.now() > deadline) throw new Error(`recording ${id} stayed ${body.status}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function recordingRoom(s: TestServer, extra: Record<string, unknown> = {}) {
  return createRoom(s, {
    recording: { enabled: true, requireConsent: false },
    participants: [
      { id: "host-1", name: "Dr. Host", role: "host" },
      { id: "pat-1", name: "Pat", role: "participant" },
    ],
    ...extra,
  });
}

describe("recordings: chunked upload and processing", () => {
  let s: TestServer;
  let webm: Buffer;
  before(async () => {
    webm = makeWebm(6);
    s = await startTestServer();
  });
  after(() => s.close());

  it("assembles chunks sent out of order and repeated into a seekable WebM of the right duration", async () => {
    const room = await recordingRoom(s);
    const host = room.participants[0]!.token;
    const events: string[] = [];
    const offs = (["recording-started", "recording-stopped", "recording-ready"] as const).map((n) => s.running.ctx.bus.on(n, () => events.push(n)));
    const res = await startRecording(s, host);
    assert.equal(res.status, 201);
    const { recordingId } = await res.json();
    const chunks = split(webm, 7);
    const order = [3, 0, 6, 1, 5, 2, 4];
    for (const i of order) {
      const r = await put(s, recordingId, i, host, chunks[i]!);
      assert.equal(r.status, 201, `chunk ${i}`);
    }
    // Repeats (a retry after a lost acknowledgement) change nothing.
    const again = await put(s, recordingId, 2, host, chunks[2]!);
    assert.equal(again.status, 200);
    assert.equal((await again.json()).duplicate, true);
    const up = await (await fetch(`${s.url}/api/recordings/${recordingId}/upload`, { headers: auth(host) })).json();
    assert.deepEqual(up.received, [0, 1, 2, 3, 4, 5, 6]);

    const done = await complete(s, recordingId, host, 7);
    assert.equal(done.status, 202);
    const ready = await waitForStatus(s, recordingId, ["READY", "FAILED"]);
    assert.equal(ready.status, "READY", ready.failureReason);
    assert.equal(ready.processed, true);
    assert.equal(ready.format, "webm");
    assert.ok(Math.abs(ready.durationSeconds - 6) <= 0.5, `duration ${ready.durationSeconds}`);

    const file = join(s.dataDir, "recordings", recordingId, "recording.webm");
    const probed = ffprobe(file);
    assert.ok(Math.abs(Number(probed.format.duration) - 6) <= 0.5, `ffprobe duration ${probed.format.duration}`);
    assert.deepEqual(probed.streams.map((x) => x.codec_name).sort(), ["opus", "vp8"]);
    assert.equal(ready.sizeBytes, readFileSync(file).length);
    const gone = Date.now() + 10_000;
    while (existsSync(join(s.dataDir, "recordings", recordingId, "chunks")) && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!existsSync(join(s.dataDir, "recordings", recordingId, "chunks")), "chunks are removed once processed");
    assert.deepEqual(events, ["recording-started", "recording-stopped", "recording-ready"]);
    offs.forEach((f) => f());
    const actions = s.running.ctx.audit.list({ roomId: room.roomId }).map((a) => a.action);
    assert.ok(actions.includes("recording.started") && actions.includes("recording.completed") && actions.includes("recording.ready"));
  });

  it("refuses different bytes for an index already stored, and verifies X-Chunk-Sha256", async () => {
    const room = await recordingRoom(s);
    const host = room.participants[0]!.token;
    const { recordingId } = await (await startRecording(s, host)).json();
    const a = Buffer.from("first bytes");
    assert.equal((await put(s, recordingId, 0, host, a)).status, 201);
    const conflict = await put(s, recordingId, 0, host, Buffer.from("other bytes"));
    assert.equal(conflict.status, 409);
    assert.equal((await conflict.json()).code, "chunk_conflict");

    const b = Buffer.from("second chunk");
    const bad = await put(s, recordingId, 1, host, b, { "x-chunk-sha256": createHash("sha256").update("something else").digest("hex") });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).code, "checksum_mismatch");
    const malformed = await put(s, recordingId, 1, host, b, { "x-chunk-sha256": "xyz" });
    assert.equal(malformed.status, 400);
    const good = await put(s, recordingId, 1, host, b, { "x-chunk-sha256": createHash("sha256").update(b).digest("hex") });
    assert.equal(good.status, 201);
    const up = await (await fetch(`${s.url}/api/recordings/${recordingId}/upload`, { headers: auth(host) })).json();
    assert.deepEqual(up.received, [0, 1]);
  });

  it("answers complete with a missing chunk with 409 listing it", async () => {
    const room = await recordingRoom(s);
    const host = room.participants[0]!.token;
    const { recordingId } = await (await startRecording(s, host)).json();
    const chunks = split(webm, 5);
    for (const i of [0, 1, 3, 4]) assert.equal((await put(s, recordingId, i, host, chunks[i]!)).status, 201);
    const res = await complete(s, recordingId, host, 5);
    assert.equal(res.status, 409);
    const body = await res.json();
    assert.equal(body.code, "chunks_missing");
    assert.deepEqual(body.missing, [2]);
    assert.equal((await put(s, recordingId, 2, host, chunks[2]!)).status, 201);
    assert.equal((await complete(s, recordingId, host, 5)).status, 202);
    assert.equal((await waitForStatus(s, recordingId, ["READY", "FAILED"])).status, "READY");
  });

  it("refuses an oversize chunk with 413 without storing it", async () => {
    const room = await recordingRoom(s);
    const host = room.participants[0]!.token;
    const { recordingId } = await (await startRecording(s, host)).json();
    const big = Buffer.alloc(MAX_CHUNK_BYTES + 1, 7);
    const res = await put(s, recordingId, 0, host, big);
    assert.equal(res.status, 413);
    assert.equal((await res.json()).code, "chunk_too_large");
    // Streamed without a length (chunked transfer): cut off at the limit all the same.
    const streamed = await fetch(`${s.url}/api/recordings/${recordingId}/chunks/0`, {
      method: "PUT",
      headers: auth(host),
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 9; i++) c.enqueue(new Uint8Array(1024 * 1024));
          c.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    assert.equal(streamed.status, 413);
    const up = await (await fetch(`${s.url}/api/recordings/${recordingId}/upload`, { headers: auth(host) })).json();
    assert.deepEqual(up.received, []);
    const left = readdirSync(join(s.dataDir, "recordings", recordingId, "chunks"));
    assert.deepEqual(left, [], "no temporary file is left behind");
  });

  it("answers bad ids and indexes with 400 and unknown recordings with 404", async () => {
    const room = await recordingRoom(s);
    const host = room.participants[0]!.token;
    const { recordingId } = await (await startRecording(s, host)).json();
    const one = Buffer.from("x");
    for (const index of ["-1", "abc", "1.5", "100000", "1e3"]) {
      const r = await put(s, recordingId, index, host, one);
      assert.equal(r.status, 400, `index ${index}`);
      assert.equal((await r.json()).code, "invalid_index");
    }
    const badId = await put(s, "not-a-uuid", 0, host, one);
    assert.equal(badId.status, 400);
    assert.equal((await badId.json()).code, "invalid_recording_id");
    const unknown = await put(s, randomUUID(), 0, host, one);
    assert.equal(unknown.status, 404);
    assert.equal((await s.api(`/api/recordings/${randomUUID()}`)).status, 404);
    const noToken = await fetch(`${s.url}/api/recordings/${recordingId}/chunks/0`, { method: "PUT", body: one });
    assert.equal(noToken.status, 401);
    const badBody = await fetch(`${s.url}/api/recordings`, { method: "POST", headers: { ...auth(host), "content-type": "application/json" }, body: JSON.stringify({ mimeType: "text/html" }) });
    assert.equal(badBody.status, 400);
    const badComplete = await complete(s, recordingId, host, -3);
    assert.equal(badComplete.status, 400);
  });

  it("lets only the recording's author upload, and only hosts or the API key download", async () => {
    const room = await recordingRoom(s);
    const [host, pat] = room.participants.map((p) => p.token) as [string, string];
    const other = await recordingRoom(s);
    const otherHost = other.participants[0]!.token;
    const { recordingId } = await (await startRecording(s, host)).json();
    const notOwner = await put(s, recordingId, 0, pat, Buffer.from("x"));
    assert.equal(notOwner.status, 403);
    assert.equal((await notOwner.json()).code, "not_owner");
    const foreign = await put(s, recordingId, 0, otherHost, Buffer.from("x"));
    assert.equal(foreign.status, 403);

    for (const [i, c] of split(webm, 3).entries()) assert.equal((await put(s, recordingId, i, host, c)).status, 201);
    assert.equal((await complete(s, recordingId, host, 3)).status, 202);
    await waitForStatus(s, recordingId, ["READY"]);

    const file = `${s.url}/api/recordings/${recordingId}/file`;
    assert.equal((await fetch(file)).status, 401);
    const asPatient = await fetch(file, { headers: auth(pat) });
    assert.equal(asPatient.status, 403, "a non-host of the room");
    const asOtherHost = await fetch(file, { headers: auth(otherHost) });
    assert.equal(asOtherHost.status, 403, "a host of another room");
    const asHost = await fetch(file, { headers: auth(host) });
    assert.equal(asHost.status, 200);
    assert.equal(asHost.headers.get("content-type"), "video/webm");
    assert.match(asHost.headers.get("content-disposition") ?? "", /^attachment; filename=".+\.webm"$/);
    await asHost.arrayBuffer();
    const byKey = await s.api(`/api/recordings/${recordingId}/file`);
    assert.equal(byKey.status, 200);
    await byKey.arrayBuffer();
    const viaQuery = await fetch(`${file}?token=${encodeURIComponent(host)}`, { headers: { range: "bytes=0-3" } });
    assert.equal(viaQuery.status, 206);
    assert.deepEqual(Buffer.from(await viaQuery.arrayBuffer()), Buffer.from([0x1a, 0x45, 0xdf, 0xa3]), "EBML magic");
    const downloads = s.running.ctx.audit.list({ roomId: room.roomId, action: "recording.downloaded" });
    assert.equal(downloads.length, 3);
    assert.deepEqual(downloads.map((d) => d.actor), ["host-1", "api", "host-1"]);

    // Hosts keep their access after the room ended (downloads happen after the visit).
    await s.api(`/api/rooms/${room.roomId}/end`, { method: "POST", json: {} });
    const afterEnd = await fetch(`${s.url}/api/recordings/${recordingId}`, { headers: auth(host) });
    assert.equal(afterEnd.status, 200);
    assert.equal((await fetch(file, { headers: auth(pat) })).status, 403);
  });

  it("refuses the very next chunk of a participant the host removed", async () => {
    const room = await recordingRoom(s);
    const host = room.participants[0]!;
    const pat = room.participants[1]!;
    const hostPeer = await Peer.join(s, host.token);
    const patPeer = await Peer.join(s, pat.token);
    const { recordingId } = await (await startRecording(s, pat.token)).json();
    const [first, second] = split(webm, 3);
    assert.equal((await put(s, recordingId, 0, pat.token, first!)).status, 201);
    hostPeer.send({ type: "remove", data: { participantId: pat.id } });
    assert.equal((await patPeer.closed).code, 4003);
    const after = await put(s, recordingId, 1, pat.token, second!);
    assert.ok([401, 403].includes(after.status), `refused at once, not after a grace period (got ${after.status})`);
    const up = await (await s.api(`/api/recordings/${recordingId}`)).json();
    assert.equal(up.status, "UPLOADING");
    hostPeer.close();
  });

  it("answers Range with 206 and exactly the asked bytes, 416 past the end", async () => {
    const room = await recordingRoom(s);
    const host = room.participants[0]!.token;
    const { recordingId } = await (await startRecording(s, host)).json();
    for (const [i, c] of split(webm, 2).entries()) await put(s, recordingId, i, host, c);
    await complete(s, recordingId, host, 2);
    await waitForStatus(s, recordingId, ["READY"]);
    const whole = Buffer.from(await (await s.api(`/api/recordings/${recordingId}/file`)).arrayBuffer());
    const size = whole.length;
    const cases: [string, number, number][] = [
      ["bytes=100-1099", 100, 1099],
      ["bytes=-500", size - 500, size - 1],
      [`bytes=${size - 10}-`, size - 10, size - 1],
      [`bytes=5-${size + 1000}`, 5, size - 1],
    ];
    for (const [range, start, end] of cases) {
      const r = await s.api(`/api/recordings/${recordingId}/file`, { headers: { range } });
      assert.equal(r.status, 206, range);
      assert.equal(r.headers.get("content-range"), `bytes ${start}-${end}/${size}`);
      assert.equal(Number(r.headers.get("content-length")), end - start + 1);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), whole.subarray(start, end + 1), range);
    }
    const past = await s.api(`/api/recordings/${recordingId}/file`, { headers: { range: `bytes=${size}-` } });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get("content-range"), `bytes */${size}`);
  });

  it("lists a room's recordings, reports storage and deletes files and rows", async () => {
    const room = await recordingRoom(s);
    const host = room.participants[0]!.token;
    const { recordingId } = await (await startRecording(s, host)).json();
    await put(s, recordingId, 0, host, webm);
    await complete(s, recordingId, host, 1, { mp4: true });
    await waitForStatus(s, recordingId, ["READY"]);
    const list = await (await s.api(`/api/rooms/${room.roomId}/recordings`)).json();
    assert.equal(list.recordings.length, 1);
    assert.equal(list.recordings[0].recordingId, recordingId);
    const listByHost = await fetch(`${s.url}/api/rooms/${room.roomId}/recordings`, { headers: auth(host) });
    assert.equal(listByHost.status, 200);
    const listByPatient = await fetch(`${s.url}/api/rooms/${room.roomId}/recordings`, { headers: auth(room.participants[1]!.token) });
    assert.equal(listByPatient.status, 403);

    // The optional MP4 copy follows the main file.
    const deadline = Date.now() + 60_000;
    let meta = await (await s.api(`/api/recordings/${recordingId}`)).json();
    while (!meta.mp4 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      meta = await (await s.api(`/api/recordings/${recordingId}`)).json();
    }
    assert.equal(meta.mp4, true);
    const mp4 = await s.api(`/api/recordings/${recordingId}/file?format=mp4`);
    assert.equal(mp4.headers.get("content-type"), "video/mp4");
    const mp4Bytes = Buffer.from(await mp4.arrayBuffer());
    assert.equal(mp4Bytes.subarray(4, 8).toString(), "ftyp");

    const stats = await (await s.api("/api/recordings/stats/storage")).json();
    assert.ok(stats.byStatus.READY.count >= 1);
    assert.ok(stats.diskBytes > 0);
    assert.equal(stats.ffmpeg, true);
    assert.equal((await fetch(`${s.url}/api/recordings/stats/storage`)).status, 401);

    assert.equal((await s.api(`/api/recordings/${recordingId}`, { method: "DELETE" })).status, 204);
    assert.equal((await s.api(`/api/recordings/${recordingId}`)).status, 404);
    assert.ok(!existsSync(join(s.dataDir, "recordings", recordingId)));
  });
});

describe("recordings: consent", () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  const join_ = (roomId: string, sessionId: string, participantId: string, name: string, role: string) =>
    s.running.ctx.bus.emit("participant-joined", { roomId, sessionId, participantId, name, role, transport: "ws", at: new Date().toISOString() });
  const consent = (roomId: string, sessionId: string, participantId: string, granted: boolean) =>
    s.running.ctx.db
      .insert(recordingConsents)
      .values({ roomId, sessionId, participantId, granted, at: new Date().toISOString() })
      .onConflictDoUpdate({ target: [recordingConsents.roomId, recordingConsents.sessionId, recordingConsents.participantId], set: { granted } })
      .run();

  it("starts only when everyone present has consented, naming who is missing", async () => {
    const room = await createRoom(s, {
      recording: { enabled: true, requireConsent: true },
      participants: [
        { id: "host-1", name: "Dr. Host", role: "host" },
        { id: "pat-1", name: "Pat", role: "participant" },
      ],
    });
    const host = room.participants[0]!.token;
    join_(room.roomId, room.sessionId, "host-1", "Dr. Host", "host");
    join_(room.roomId, room.sessionId, "pat-1", "Pat", "participant");
    const none = await startRecording(s, host);
    assert.equal(none.status, 409);
    const body = await none.json();
    assert.equal(body.code, "consent_required");
    assert.deepEqual(body.missing.map((m: { participantId: string }) => m.participantId).sort(), ["host-1", "pat-1"]);

    consent(room.roomId, room.sessionId, "host-1", true);
    consent(room.roomId, room.sessionId, "pat-1", false);
    const refused = await (await startRecording(s, host)).json();
    assert.equal(refused.code, "consent_required");
    assert.deepEqual(refused.missing, [{ participantId: "pat-1", name: "Pat", refused: true }]);

    consent(room.roomId, room.sessionId, "pat-1", true);
    const ok = await startRecording(s, host);
    assert.equal(ok.status, 201);
    const started = s.running.ctx.audit.list({ roomId: room.roomId, action: "recording.started" });
    assert.deepEqual((started[0]!.detail!.consentFrom as string[]).sort(), ["host-1", "pat-1"]);
  });

  it("refuses rooms without recording, and composites by non-hosts", async () => {
    const plain = await createRoom(s, { participants: [{ name: "A", role: "host" }] });
    const r = await startRecording(s, plain.participants[0]!.token);
    assert.equal(r.status, 403);
    assert.equal((await r.json()).code, "recording_disabled");
    const room = await createRoom(s, { recording: { enabled: true, requireConsent: false }, participants: [{ name: "P", role: "participant" }] });
    const c = await startRecording(s, room.participants[0]!.token, { mimeType: "video/webm", mode: "composite" });
    assert.equal(c.status, 403);
    assert.equal((await c.json()).code, "host_required");
  });
});

describe("recordings: surviving restarts and crashes", () => {
  let s: TestServer;
  let webm: Buffer;
  before(async () => {
    webm = makeWebm(6);
    s = await startTestServer();
  });
  after(() => s.close());

  it("resumes an upload after a server restart mid-upload", async () => {
    const room = await recordingRoom(s);
    const host = room.participants[0]!.token;
    const { recordingId } = await (await startRecording(s, host)).json();
    const chunks = split(webm, 6);
    for (const i of [0, 1, 2]) assert.equal((await put(s, recordingId, i, host, chunks[i]!)).status, 201);
    s = await s.restart();
    await settle(s);
    const up = await (await fetch(`${s.url}/api/recordings/${recordingId}/upload`, { headers: auth(host) })).json();
    assert.deepEqual(up.received, [0, 1, 2]);
    assert.equal(up.status, "UPLOADING");
    for (const i of [3, 4, 5]) assert.equal((await put(s, recordingId, i, host, chunks[i]!)).status, 201);
    assert.equal((await complete(s, recordingId, host, 6)).status, 202);
    const ready = await waitForStatus(s, recordingId, ["READY", "FAILED"]);
    assert.equal(ready.status, "READY");
    assert.ok(Math.abs(ready.durationSeconds - 6) <= 0.5);
  });

  it("resumes processing that a restart interrupted", async () => {
    const room = await recordingRoom(s);
    const host = room.participants[0]!.token;
    const { recordingId } = await (await startRecording(s, host)).json();
    for (const [i, c] of split(webm, 4).entries()) await put(s, recordingId, i, host, c);
    await s.stop();
    // As a crash mid-processing leaves it: PROCESSING, its job marked running.
    const db = new Database(join(s.dataDir, "parley.sqlite"));
    db.prepare("update recordings set status = 'PROCESSING', expected_chunks = 4 where id = ?").run(recordingId);
    db.prepare("insert into jobs (kind, ref, status, attempts) values ('recording.process', ?, 'running', 1)").run(recordingId);
    db.close();
    s = await s.restart();
    await settle(s);
    const ready = await waitForStatus(s, recordingId, ["READY", "FAILED"]);
    assert.equal(ready.status, "READY");
    assert.ok(Math.abs(ready.durationSeconds - 6) <= 0.5);
  });

  it("finalizes an upload that stopped after its room ended from the chunks that arrived", async () => {
    const saved = { ...recordingTimings };
    recordingTimings.staleGraceMs = 300;
    recordingTimings.sweepIntervalMs = 200;
    s = await s.restart(); // the sweep interval is read at start
    await settle(s);
    try {
      const room = await recordingRoom(s);
      const host = room.participants[0]!.token;
      const { recordingId } = await (await startRecording(s, host)).json();
      const chunks = split(webm, 6);
      for (const i of [0, 1, 2, 3]) await put(s, recordingId, i, host, chunks[i]!);
      await s.api(`/api/rooms/${room.roomId}/end`, { method: "POST", json: {} });
      const ready = await waitForStatus(s, recordingId, ["READY", "FAILED"]);
      assert.equal(ready.status, "READY", ready.failureReason);
      assert.equal(ready.expectedChunks, null);
      assert.match(ready.note, /Finalized from the chunks/);
      assert.ok(ready.durationSeconds > 1 && ready.durationSeconds < 6, `duration ${ready.durationSeconds}`);
      const actions = s.running.ctx.audit.list({ roomId: room.roomId }).map((a) => a.action);
      assert.ok(actions.includes("recording.finalized_incomplete"));
    } finally {
      Object.assign(recordingTimings, saved);
    }
  });

  it("removes recordings older than PARLEY_RECORDING_RETENTION_DAYS, files and rows", async () => {
    const room = await recordingRoom(s);
    const host = room.participants[0]!.token;
    const { recordingId } = await (await startRecording(s, host)).json();
    await put(s, recordingId, 0, host, webm);
    await complete(s, recordingId, host, 1);
    await waitForStatus(s, recordingId, ["READY"]);
    const { recordingId: fresh } = await (await startRecording(s, host)).json();
    await s.stop();
    const db = new Database(join(s.dataDir, "parley.sqlite"));
    db.prepare("update recordings set started_at = ? where id = ?").run(new Date(Date.now() - 3 * 86400_000).toISOString(), recordingId);
    db.close();
    s = await s.restart({ PARLEY_RECORDING_RETENTION_DAYS: "2" });
    await settle(s);
    const deadline = Date.now() + 10_000;
    while ((await s.api(`/api/recordings/${recordingId}`)).status !== 404 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await s.api(`/api/recordings/${recordingId}`)).status, 404);
    assert.ok(!existsSync(join(s.dataDir, "recordings", recordingId)));
    assert.equal((await s.api(`/api/recordings/${fresh}`)).status, 200, "younger recordings stay");
  });
});

describe("recordings: without ffmpeg", () => {
  let s: TestServer;
  let webm: Buffer;
  before(async () => {
    webm = makeWebm(3);
    s = await startTestServer({ PARLEY_FFMPEG_PATH: "/nonexistent/ffmpeg" });
  });
  after(() => s.close());

  it("keeps the upload as the browser made it and says it was not processed", async () => {
    const room = await recordingRoom(s);
    const host = room.participants[0]!.token;
    const { recordingId } = await (await startRecording(s, host)).json();
    const chunks = split(webm, 3);
    for (const i of [2, 0, 1]) assert.equal((await put(s, recordingId, i, host, chunks[i]!)).status, 201);
    assert.equal((await complete(s, recordingId, host, 3)).status, 202);
    const ready = await waitForStatus(s, recordingId, ["READY", "FAILED"]);
    assert.equal(ready.status, "READY");
    assert.equal(ready.processed, false);
    assert.equal(ready.durationSeconds, null);
    assert.match(ready.note, /ffmpeg/);
    const file = Buffer.from(await (await s.api(`/api/recordings/${recordingId}/file`)).arrayBuffer());
    assert.deepEqual(file, webm, "byte for byte the concatenated upload");
    const stats = await (await s.api("/api/recordings/stats/storage")).json();
    assert.equal(stats.ffmpeg, false);
  });
});
