import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join as pathJoin } from "node:path";
import { describe, it } from "node:test";
import { createRoom } from "../helpers/server.js";
import { allDecodeFromAll, joinAll, clickJoin, eventually, join, type CallPage, callFixture } from "./call-helpers.js";

type RecState = { consent: boolean | null; active: boolean; recordingId: string | null; lastError: string | null; resumed: number; progress: { state: string; pending: number } | null; included: string[] | null };
const recState = (c: CallPage) => c.page.evaluate(() => (window as unknown as { __parleyRecording?: unknown }).__parleyRecording ?? null) as Promise<RecState | null>;

describe("recordings in the call page (real Chromium)", () => {
  const call = callFixture({ chromiumArgs: ["--autoplay-policy=no-user-gesture-required"] });

  const twoInACall = async () => {
    const room = await createRoom(call.server, {
      recording: { enabled: true, requireConsent: true },
      participants: [
        { id: "host-1", name: "Dr Host", role: "host" },
        { id: "pat-1", name: "Pat Patient", role: "participant" },
      ],
    });
    const [host, pat] = (await joinAll(call, room.participants.slice(0, 2))) as [CallPage, CallPage];
    return { room, host, pat };
  };

  it("records with everyone's consent, survives a reload mid-recording and resumes the upload", async () => {
    const { room, host, pat } = await twoInACall();
    for (const c of [host, pat]) {
      await c.page.waitForSelector("#rec-consent-yes", { timeout: 30_000 });
      await c.page.click("#rec-consent-yes");
    }
    await host.page.click("#rec-toggle");
    const recordingId = await eventually<string>("the recording to start", async () => (await recState(host))?.recordingId ?? undefined, { pages: [host, pat] });
    await eventually("the participant to see the REC indicator", async () => pat.page.locator("#rec-indicator").isVisible(), { pages: [pat] });

    await new Promise((r) => setTimeout(r, 6000));
    // The network fails for a while: chunks wait in IndexedDB.
    await host.page.route("**/api/recordings/*/chunks/*", (route) => route.abort());
    await new Promise((r) => setTimeout(r, 5000));
    const mid = await (await call.server.api(`/api/recordings/${recordingId}`)).json();
    assert.equal(mid.status, "UPLOADING");
    await host.page.unroute("**/api/recordings/*/chunks/*");

    // The page reloads in the middle of the recording; after joining again the upload resumes and completes.
    await host.page.reload();
    await clickJoin(host);
    await eventually("the resumed upload to be found", async () => ((await recState(host))?.resumed ?? 0) >= 1, { pages: [host] });
    const ready = await eventually(
      "the recording to be processed",
      async () => {
        const r = await (await call.server.api(`/api/recordings/${recordingId}`)).json();
        return r.status === "READY" || r.status === "FAILED" ? r : undefined;
      },
      { timeoutMs: 120_000, pages: [host] },
    );
    assert.equal(ready.status, "READY", ready.failureReason);
    assert.ok(ready.chunksReceived >= 3 || ready.expectedChunks >= 3, `chunks: ${JSON.stringify(ready)}`);
    const file = pathJoin(call.server.dataDir, "recordings", recordingId, `recording.${ready.format === "matroska" ? "mkv" : ready.format}`);
    const probe = JSON.parse(execFileSync("ffprobe", ["-v", "error", "-show_entries", "format=duration:stream=codec_type", "-of", "json", file]).toString());
    assert.ok(Number(probe.format.duration) >= 5, `duration ${probe.format.duration} of ${JSON.stringify(ready)}`);
    const kinds = probe.streams.map((x: { codec_type: string }) => x.codec_type);
    assert.ok(kinds.includes("video") && kinds.includes("audio"), `streams ${kinds}`);

    const actions = call.server.running.ctx.audit.list({ roomId: room.roomId }).map((a) => a.action);
    for (const a of ["recording.consent_granted", "recording.started", "recording.completed", "recording.ready"]) assert.ok(actions.includes(a), `audit has ${a}: ${actions}`);
    for (const c of call.open.splice(0)) await c.context.close();
  });

  it("starts no recording when one participant refuses consent", async () => {
    const { room, host, pat } = await twoInACall();
    await host.page.waitForSelector("#rec-consent-yes", { timeout: 30_000 });
    await host.page.click("#rec-consent-yes");
    await pat.page.waitForSelector("#rec-consent-no", { timeout: 30_000 });
    await pat.page.click("#rec-consent-no");
    await new Promise((r) => setTimeout(r, 500));
    await host.page.click("#rec-toggle");
    const err = await eventually<string>("the refusal to be shown", async () => (await recState(host))?.lastError ?? undefined, { pages: [host] });
    assert.match(err, /Pat Patient/);
    const list = await (await call.server.api(`/api/rooms/${room.roomId}/recordings`)).json();
    assert.deepEqual(list.recordings, []);
    assert.equal(await pat.page.locator("#rec-indicator").isVisible(), false);
    assert.equal((await recState(host))?.recordingId, null);
  });

  it("asks someone who joins during a recording, and leaves them out of the composite until they allow it", async () => {
    const room = await createRoom(call.server, {
      recording: { enabled: true, requireConsent: true },
      participants: [
        { id: "host-2", name: "Dr Host", role: "host" },
        { id: "pat-2", name: "Pat Patient", role: "participant" },
        { id: "late-2", name: "Lee Late", role: "participant" },
      ],
    });
    const [host, pat] = (await joinAll(call, room.participants.slice(0, 2))) as [CallPage, CallPage];
    for (const c of [host, pat]) {
      await c.page.waitForSelector("#rec-consent-yes", { timeout: 30_000 });
      await c.page.click("#rec-consent-yes");
    }
    await host.page.click("#rec-toggle");
    await eventually("the composite to include both", async () => JSON.stringify((await recState(host))?.included) === JSON.stringify(["host-2", "pat-2"]), { pages: [host] });

    const late = await join(call.browser, room.participants[2]!.joinUrl);
    call.open.push(late);
    await allDecodeFromAll([host, pat, late]);
    // The newcomer is told a recording is running and asked; meanwhile the host's composite leaves them out.
    await late.page.waitForSelector("#rec-consent-yes", { timeout: 30_000 });
    assert.match(await late.page.locator("#rec-consent").innerText(), /being recorded/);
    for (let i = 0; i < 3; i++) {
      assert.ok(!(await recState(host))?.included?.includes("late-2"), "not drawn or heard before saying yes");
      await new Promise((r) => setTimeout(r, 2_000)); // across at least one consent refresh (every 4 s)
    }
    await late.page.click("#rec-consent-yes");
    await eventually("the composite to include the newcomer", async () => (await recState(host))?.included?.includes("late-2"), { pages: [host, late] });
    const actions = call.server.running.ctx.audit.list({ roomId: room.roomId }).filter((a) => a.action === "recording.consent_granted").map((a) => a.actor);
    assert.deepEqual(new Set(actions), new Set(["host-2", "pat-2", "late-2"]));
    await host.page.click("#rec-toggle");
  });
});
