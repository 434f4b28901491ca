import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { makeWebm, split } from "./helpers/media.js";
import { tempDir, type TestServer } from "./helpers/server.js";
import { Peer } from "./helpers/signaling.js";

/**
 * The real process killed with SIGKILL (power cut, OOM killer, `kill -9`): no shutdown code runs.
 * Whatever the server acknowledged before the kill must still be there after the next start.
 */
describe("a crash (SIGKILL) mid-call and mid-upload", () => {
  const dataDir = tempDir("parley-crash-");
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const url = `http://127.0.0.1:${port}`;
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function start(): Promise<ChildProcess> {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: { ...process.env, PARLEY_PORT: String(port), PARLEY_HOST: "127.0.0.1", PARLEY_DATA_DIR: dataDir, PARLEY_TURN: "off", PARLEY_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}:\n${out}`);
      if (Date.now() > deadline) throw new Error(`not ready within 60 s:\n${out}`);
      const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
      if (ok) return child;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const kill = (child: ChildProcess) => new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
  const apiKey = () => (JSON.parse(readFileSync(join(dataDir, "secrets.json"), "utf8")) as { apiKey: string }).apiKey;
  const api = (path: string, init: RequestInit = {}) =>
    fetch(url + path, { ...init, headers: { authorization: `Bearer ${apiKey()}`, "content-type": "application/json", ...(init.headers as Record<string, string>) } });
  const withToken = (token: string, path: string, init: RequestInit = {}) =>
    fetch(url + path, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });
  const server = { wsUrl: url.replace(/^http/, "ws") } as TestServer;

  it("keeps the room, the acknowledged chunks, the chat and the attendance, and the call and the upload carry on", async () => {
    let child = await start();
    const created = await api("/api/rooms", {
      method: "POST",
      body: JSON.stringify({ title: "Crash visit", recording: { enabled: true, requireConsent: false }, participants: [{ id: "doc", name: "Dr Doc", role: "host" }, { id: "pat", name: "Pat", role: "participant" }] }),
    });
    assert.equal(created.status, 201);
    const room = (await created.json()) as { roomId: string; participants: { id: string; token: string }[] };
    const [host, patient] = room.participants as [{ id: string; token: string }, { id: string; token: string }];

    const a = await Peer.join(server, host.token);
    const b = await Peer.join(server, patient.token);
    a.send({ type: "chat", data: { text: "see you after the crash" } });
    await b.next("chat");

    const started = await withToken(host.token, "/api/recordings", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ mimeType: "video/webm;codecs=vp8,opus" }) });
    assert.equal(started.status, 201);
    const { recordingId } = (await started.json()) as { recordingId: string };
    const chunks = split(makeWebm(6), 6);
    const put = (i: number) =>
      withToken(host.token, `/api/recordings/${recordingId}/chunks/${i}`, { method: "PUT", headers: { "content-type": "application/octet-stream" }, body: new Uint8Array(chunks[i]!) });
    for (const i of [0, 1, 2]) assert.equal((await put(i)).status, 201, `chunk ${i} acknowledged`);
    // Attendance open at a crash is closed at the last moment the server was known alive (touched every 5 s).
    await new Promise((r) => setTimeout(r, 6_000));

    await kill(child);
    assert.equal((await a.closed).code, 1006, "no close frame: the process just vanished");
    await b.closed;
    child = await start();

    // The room is still live and its participants are no longer counted as connected.
    const status = (await (await api(`/api/rooms/${room.roomId}/status`)).json()) as { status: string; participants: Record<string, { connected: boolean; totalDuration: number }> };
    assert.equal(status.status, "active");
    assert.equal(status.participants.doc!.connected, false);
    assert.ok(status.participants.doc!.totalDuration >= 1, `attendance before the crash counted (${status.participants.doc!.totalDuration} s)`);

    // The call carries on: both pages resume, get a resync welcome and meet again.
    const a2 = await Peer.join(server, host.token, { resume: a.lastSeq });
    assert.equal(a2.frames[0]!.data.resync, true);
    const b2 = await Peer.join(server, patient.token, { resume: b.lastSeq });
    assert.deepEqual(b2.frames[0]!.data.peers.map((p: { id: string }) => p.id), ["doc"]);
    assert.equal((await a2.next("peer-joined")).data.resync, true);

    // The upload carries on from what the server had acknowledged, and the file is whole.
    const upload = (await (await withToken(host.token, `/api/recordings/${recordingId}/upload`)).json()) as { received: number[] };
    assert.deepEqual(upload.received, [0, 1, 2]);
    for (const i of [3, 4, 5]) assert.equal((await put(i)).status, 201);
    const done = await withToken(host.token, `/api/recordings/${recordingId}/complete`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ chunks: 6 }) });
    assert.equal(done.status, 202);
    let rec: { status: string; durationSeconds: number | null } = { status: "", durationSeconds: null };
    for (const deadline = Date.now() + 60_000; Date.now() < deadline && !["READY", "FAILED"].includes(rec.status); await new Promise((r) => setTimeout(r, 200))) {
      rec = (await (await api(`/api/recordings/${recordingId}`)).json()) as typeof rec;
    }
    assert.equal(rec.status, "READY");
    assert.ok(Math.abs((rec.durationSeconds ?? 0) - 6) <= 0.5, `duration ${rec.durationSeconds} s`);

    // The visit's record has the chat sent before the crash.
    a2.close();
    b2.close();
    assert.equal((await api(`/api/rooms/${room.roomId}/end`, { method: "POST", body: "{}" })).status, 200);
    const summary = (await (await api(`/api/rooms/${room.roomId}/summary`)).json()) as { chat: { messages: number } };
    assert.equal(summary.chat.messages, 1);
    await kill(child);
  });
});
