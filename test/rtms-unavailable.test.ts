import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { describe, it } from "node:test";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/log.js";
import { rtmsCapability } from "../src/rtms/index.js";
import { loadSdk } from "../src/rtms/sdk.js";
import { startServer } from "../src/server.js";
import { RtmsSimulator } from "./helpers/rtms-simulator.js";
import { meetingStarted, meetingStopped, postZoom, streamRow, until, ZOOM_ENV } from "./helpers/rtms-zoom.js";
import { startTestServer, tempDir, type TestServer } from "./helpers/server.js";

describe("RTMS ingest without @zoom/rtms (as on this machine)", () => {
  it("starts, says once in the log why, answers the webhook and records the stream as ingest_unavailable", async () => {
    const dataDir = tempDir();
    const lines: { level: number; msg: string; reason?: string }[] = [];
    const log = createLogger("info", { write: (line: string) => void lines.push(JSON.parse(line)) });
    const config = loadConfig({ PARLEY_HOST: "127.0.0.1", PARLEY_DATA_DIR: dataDir, PARLEY_TURN: "off", ...ZOOM_ENV });
    config.port = 0;
    const running = await startServer(config, log);
    config.publicUrl = running.url;
    const s = { url: running.url, running } as TestServer;
    try {
      const warnings = lines.filter((l) => l.level === 40 && /Zoom RTMS ingest unavailable/.test(l.msg));
      assert.equal(warnings.length, 1, JSON.stringify(lines.map((l) => l.msg)));
      // The line names the cause: on Node 20 (this machine) the Node version, on Node 22 the missing package.
      const cause = Number(process.versions.node.split(".")[0]) < 22 ? /@zoom\/rtms needs Node 22 or newer; this is Node \d+/ : /@zoom\/rtms is not installed/;
      assert.match(warnings[0]!.msg, cause);

      const res = await postZoom(s, meetingStarted("noSdkMeeting", "no-sdk-stream"));
      assert.equal(res.status, 200);
      assert.equal((await res.json()).status, "ingest_unavailable");
      const row = streamRow(s, "no-sdk-stream")!;
      assert.equal(row.status, "ingest_unavailable");
      assert.match(row.reason ?? "", cause);
      assert.equal(running.ctx.rooms.get(row.room_id)?.status, "active");

      assert.equal((await postZoom(s, meetingStopped("noSdkMeeting", "no-sdk-stream"))).status, 200);
      await until(() => streamRow(s, "no-sdk-stream")?.stopped_at, "stopped");
      assert.equal(streamRow(s, "no-sdk-stream")!.status, "ingest_unavailable");
      assert.equal(running.ctx.rooms.get(row.room_id)?.status, "ended");
    } finally {
      await running.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("reports a missing package on Node 22 without throwing", async () => {
    const r = await loadSdk("22.11.0");
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.reason : "", /@zoom\/rtms is not installed/);
  });

  it("records ingest_unavailable when ZOOM_CLIENT_ID / ZOOM_CLIENT_SECRET are missing, and joins once a restart has them", async () => {
    const sim = new RtmsSimulator({ clientId: ZOOM_ENV.ZOOM_CLIENT_ID, clientSecret: ZOOM_ENV.ZOOM_CLIENT_SECRET });
    let s = await startTestServer({ ZOOM_WEBHOOK_SECRET: ZOOM_ENV.ZOOM_WEBHOOK_SECRET }, { extra: [rtmsCapability({ clientFactory: sim.factory })] });
    try {
      assert.equal((await postZoom(s, meetingStarted("noCreds", "no-creds-stream"))).status, 200);
      const row = streamRow(s, "no-creds-stream")!;
      assert.equal(row.status, "ingest_unavailable");
      assert.match(row.reason ?? "", /ZOOM_CLIENT_ID is unset; ZOOM_CLIENT_SECRET is unset/);
      assert.equal(sim.joins.length, 0);

      // The meeting is still running when the operator fixes the configuration and restarts.
      s = await s.restart(ZOOM_ENV);
      await sim.waitForJoin("no-creds-stream");
      const joined = await until(() => (streamRow(s, "no-creds-stream")?.status === "capturing" ? streamRow(s, "no-creds-stream") : undefined), "capturing");
      assert.equal(joined.reason, null);
    } finally {
      await s.close();
    }
  });
});
