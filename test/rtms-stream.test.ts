import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { rtmsCapability, transcriptStats } from "../src/rtms/index.js";
import { RtmsSimulator, type SimulatedStream } from "./helpers/rtms-simulator.js";
import { meetingStarted, meetingStopped, postZoom, streamRow, until, ZOOM_ENV } from "./helpers/rtms-zoom.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

const RATE = 16_000;
const FRAME_MS = 20;
const FRAME_BYTES = 640;

/** A 440 Hz sine at half scale, as L16 (s16le) mono at 16 kHz. */
function tone(seconds: number): Buffer {
  const n = seconds * RATE;
  const pcm = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) pcm.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / RATE) * 16_383), i * 2);
  return pcm;
}

function sendAudio(stream: SimulatedStream, pcm: Buffer, fromMs = 0, toMs = (pcm.length / FRAME_BYTES) * FRAME_MS): void {
  for (let t = fromMs; t < toMs; t += FRAME_MS) {
    const off = (t / FRAME_MS) * FRAME_BYTES;
    stream.audio(pcm.subarray(off, off + FRAME_BYTES), t);
  }
}

/** The samples of a WAV file (walks the RIFF chunks: ffmpeg may add a LIST chunk before "data"). */
function wavData(file: string): Buffer {
  const b = readFileSync(file);
  assert.equal(b.toString("ascii", 0, 4), "RIFF");
  assert.equal(b.toString("ascii", 8, 12), "WAVE");
  for (let off = 12; off + 8 <= b.length; ) {
    const id = b.toString("ascii", off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === "data") return b.subarray(off + 8, off + 8 + size);
    off += 8 + size + (size % 2);
  }
  throw new Error("no data chunk");
}

function ffprobe(file: string) {
  const out = execFileSync("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels:format=duration", "-of", "json", file], { encoding: "utf8" });
  const j = JSON.parse(out) as { streams: { codec_name: string; sample_rate: string; channels: number }[]; format: { duration: string } };
  return { codec: j.streams[0]!.codec_name, sampleRate: Number(j.streams[0]!.sample_rate), channels: j.streams[0]!.channels, duration: Number(j.format.duration) };
}

const SEGMENTS = [
  { speaker: "Coach", startMs: 0, endMs: 2500, text: "Hello, how was your week?" },
  { speaker: "Client", startMs: 2600, endMs: 6100, text: "Better, thanks. I slept well." },
  { speaker: "Coach", startMs: 6200, endMs: 9000, text: "Good <progress> & sleep" },
  { speaker: "Client", startMs: 12_000, endMs: 15_500, text: "Can we talk about work?" },
  { speaker: "Coach", startMs: 16_000, endMs: 19_800, text: "Of course." },
];

describe("RTMS stream capture (through the RTMS simulator)", () => {
  const sim = new RtmsSimulator({ clientId: ZOOM_ENV.ZOOM_CLIENT_ID, clientSecret: ZOOM_ENV.ZOOM_CLIENT_SECRET });
  const extra = [rtmsCapability({ clientFactory: sim.factory })];
  let s: TestServer;
  before(async () => {
    s = await startTestServer(ZOOM_ENV, { extra });
  });
  after(() => s.close());

  it("captures 20 s of L16 into a 16 kHz mono WAV of 20 s and serves the transcript in order", async () => {
    const meeting = "toneMeeting==";
    assert.equal((await postZoom(s, meetingStarted(meeting, "tone-stream", { object: { topic: "Tone check" } }))).status, 200);
    const stream = await sim.waitForJoin("tone-stream");

    // The join carried an independently verifiable signature and the explicit audio parameters.
    const expectedSig = createHmac("sha256", ZOOM_ENV.ZOOM_CLIENT_SECRET).update(`${ZOOM_ENV.ZOOM_CLIENT_ID},${meeting},tone-stream`).digest("hex");
    assert.equal(stream.options.signature, expectedSig);
    assert.equal(stream.options.meetingUuid, meeting);
    assert.deepEqual(
      { ...stream.options.audioParams },
      { contentType: "raw_audio", codec: "L16", sampleRate: 16000, channels: 1, dataOption: "mixed_stream", frameMs: 20, frameSamples: 320, frameBytes: 640 },
    );
    await until(() => streamRow(s, "tone-stream")?.status === "capturing", "capturing");

    const pcm = tone(20);
    // Segments arrive interleaved with audio and not in time order.
    const order = [1, 0, 2, 4, 3];
    for (let i = 0; i < 5; i++) {
      sendAudio(stream, pcm, i * 4000, (i + 1) * 4000);
      const k = order[i]!;
      stream.transcript({ seq: k + 1, ...SEGMENTS[k]! });
      await new Promise((r) => setImmediate(r));
    }
    assert.equal((await postZoom(s, meetingStopped(meeting, "tone-stream"))).status, 200);
    const row = await until(() => {
      const r = streamRow(s, "tone-stream");
      return r && ["ready", "failed", "raw_only"].includes(r.status) ? r : undefined;
    }, "WAV ready");
    assert.equal(row.status, "ready", row.reason ?? "");
    assert.equal(row.audio_bytes, pcm.length);
    assert.ok(row.wav_path && existsSync(row.wav_path));

    const probe = ffprobe(row.wav_path);
    assert.equal(probe.codec, "pcm_s16le");
    assert.equal(probe.sampleRate, 16_000);
    assert.equal(probe.channels, 1);
    assert.ok(Math.abs(probe.duration - 20) <= 0.2, `duration ${probe.duration}`);
    assert.ok(wavData(row.wav_path).equals(pcm), "the WAV holds exactly the samples that were streamed");

    const roomId = row.room_id;
    const vtt = await (await s.api(`/api/rooms/${roomId}/transcription?format=vtt`)).json();
    assert.equal(vtt.roomId, roomId);
    assert.equal(vtt.transcription.format, "vtt");
    assert.equal(
      vtt.transcription.content,
      [
        "WEBVTT",
        "",
        "1\n00:00:00.000 --> 00:00:02.500\n<v Coach>Hello, how was your week?",
        "",
        "2\n00:00:02.600 --> 00:00:06.100\n<v Client>Better, thanks. I slept well.",
        "",
        "3\n00:00:06.200 --> 00:00:09.000\n<v Coach>Good &lt;progress&gt; &amp; sleep",
        "",
        "4\n00:00:12.000 --> 00:00:15.500\n<v Client>Can we talk about work?",
        "",
        "5\n00:00:16.000 --> 00:00:19.800\n<v Coach>Of course.",
        "",
      ].join("\n"),
    );

    const text = await (await s.api(`/api/rooms/${roomId}/transcription?format=text`)).json();
    assert.equal(text.transcription.content.split("\n")[0], "[00:00] Coach: Hello, how was your week?");
    assert.equal(text.transcription.content.split("\n")[3], "[00:12] Client: Can we talk about work?");
    const json = await (await s.api(`/api/rooms/${roomId}/transcription?format=json`)).json();
    assert.deepEqual(
      json.transcription.content.map((c: { startMs: number; speaker: string }) => [c.startMs, c.speaker]),
      SEGMENTS.map((x) => [x.startMs, x.speaker]),
    );

    const stats = transcriptStats(s.running.ctx.db, roomId);
    assert.equal(stats.available, true);
    assert.equal(stats.segments, 5);
    assert.deepEqual(stats.speakers.map((x) => x.speaker).sort(), ["Client", "Coach"]);

    const room = await (await s.api(`/api/rooms/${roomId}`)).json();
    assert.equal(room.title, "Tone check");
    assert.equal(room.status, "ended");
  });

  it("keeps every acknowledged segment exactly once across a restart mid-stream", async () => {
    const meeting = "restartMeeting";
    const pcm = tone(20);
    const segs = [...SEGMENTS, { speaker: "Client", startMs: 19_000, endMs: 19_900, text: "Thanks!" }];
    await postZoom(s, meetingStarted(meeting, "restart-stream"));
    const first = await sim.waitForJoin("restart-stream");
    sendAudio(first, pcm, 0, 10_000);
    for (const seg of segs.slice(0, 3)) first.transcript(seg); // no seq: the ingest derives one
    const count = () =>
      (s.running.ctx.database.sqlite.prepare("select count(*) as n from transcript_segments where stream_id = ?").get("restart-stream") as { n: number }).n;
    assert.equal(count(), 3);

    s = await s.restart();
    const second = await sim.waitForJoin("restart-stream", 2);
    assert.notEqual(second, first);
    await until(() => streamRow(s, "restart-stream")?.status === "capturing", "capturing again");
    // Zoom re-delivers from the start of what it still buffers: the first half again, then the rest.
    sendAudio(second, pcm, 0, 20_000);
    for (const seg of segs) second.transcript(seg);
    assert.equal(count(), segs.length);

    await postZoom(s, meetingStopped(meeting, "restart-stream"));
    const row = await until(() => (streamRow(s, "restart-stream")?.status === "ready" ? streamRow(s, "restart-stream") : undefined), "WAV ready");
    assert.ok(wavData(row.wav_path!).equals(pcm), "re-delivered audio is not written twice");
    assert.ok(Math.abs(ffprobe(row.wav_path!).duration - 20) <= 0.2);
    const json = await (await s.api(`/api/rooms/${row.room_id}/transcription?format=json`)).json();
    assert.equal(json.transcription.segments, segs.length);
    assert.deepEqual(
      json.transcription.content.map((c: { text: string }) => c.text),
      [...segs].sort((a, b) => a.startMs - b.startMs).map((x) => x.text),
    );
  });

  it("finishes the stream when Zoom ends it without a webhook", async () => {
    await postZoom(s, meetingStarted("endsOnItsOwn", "own-end"));
    const stream = await sim.waitForJoin("own-end");
    await until(() => streamRow(s, "own-end")?.status === "capturing", "capturing");
    sendAudio(stream, tone(2));
    stream.end("STOP_BC_MEETING_ENDED");
    const row = await until(() => (streamRow(s, "own-end")?.status === "ready" ? streamRow(s, "own-end") : undefined), "WAV ready");
    assert.ok(Math.abs(ffprobe(row.wav_path!).duration - 2) <= 0.2);
    assert.equal((await (await s.api(`/api/rooms/${row.room_id}`)).json()).status, "ended");
  });

  it("answers a room without Zoom segments with content null", async () => {
    const created = await (await s.api("/api/rooms", { method: "POST", json: {} })).json();
    for (const format of ["text", "vtt", "json"]) {
      const res = await s.api(`/api/rooms/${created.roomId}/transcription?format=${format}`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { roomId: created.roomId, transcription: { format, content: null, segments: 0 } });
    }
    assert.equal((await s.api(`/api/rooms/${created.roomId}/transcription?format=srt`)).status, 400);
    assert.equal((await s.api(`/api/rooms/no-such-room/transcription`)).status, 404);
    assert.equal((await fetch(`${s.url}/api/rooms/${created.roomId}/transcription`)).status, 401);
  });
});

describe("RTMS audio without ffmpeg, and the conversion job after a restart", () => {
  it("keeps the RAW file when ffmpeg is missing, and a restarted conversion job writes the WAV", async () => {
    const sim = new RtmsSimulator({ clientId: ZOOM_ENV.ZOOM_CLIENT_ID, clientSecret: ZOOM_ENV.ZOOM_CLIENT_SECRET });
    const extra = [rtmsCapability({ clientFactory: sim.factory })];
    let s = await startTestServer({ ...ZOOM_ENV, PARLEY_FFMPEG_PATH: "/nonexistent/ffmpeg" }, { extra });
    try {
      await postZoom(s, meetingStarted("noFfmpeg", "raw-stream"));
      const stream = await sim.waitForJoin("raw-stream");
      await until(() => streamRow(s, "raw-stream")?.status === "capturing", "capturing");
      const pcm = tone(3);
      sendAudio(stream, pcm);
      await postZoom(s, meetingStopped("noFfmpeg", "raw-stream"));
      const row = await until(() => (streamRow(s, "raw-stream")?.status === "raw_only" ? streamRow(s, "raw-stream") : undefined), "raw_only");
      assert.match(row.reason ?? "", /ffmpeg/);
      assert.equal(row.wav_path, null);
      assert.ok(readFileSync(row.audio_path!).equals(pcm));

      // As if the process had died mid-conversion: the job is "running" and the stream "converting".
      await s.stop();
      const { default: Database } = await import("better-sqlite3");
      const db = new Database(`${s.dataDir}/parley.sqlite`);
      db.prepare("update jobs set status = 'running' where kind = 'rtms-wav' and ref = ?").run("raw-stream");
      db.prepare("update rtms_streams set status = 'converting', reason = null where stream_id = ?").run("raw-stream");
      db.close();
      s = await startTestServer(ZOOM_ENV, { extra, dataDir: s.dataDir });
      const done = await until(() => (streamRow(s, "raw-stream")?.status === "ready" ? streamRow(s, "raw-stream") : undefined), "WAV after restart");
      assert.ok(statSync(done.wav_path!).size > pcm.length);
      assert.ok(wavData(done.wav_path!).equals(pcm));
    } finally {
      await s.close();
    }
  });
});
