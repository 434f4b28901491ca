import type { AppContext } from "../context.js";
import type { Capability } from "../server.js";
import { ChunkStore } from "./chunkStore.js";
import { findMediaTools } from "../media/tools.js";
import { JobRunner } from "./jobs.js";
import { recordingTimings } from "./limits.js";
import { RecordingProcessor } from "./processor.js";
import { recordingRoutes } from "./routes.js";
import { MP4_JOB, PROCESS_JOB, RecordingService } from "./service.js";

/**
 * Recordings: chunked uploads from browsers, processing jobs that survive
 * restarts, the sweep that finalizes uploads a crash left behind, retention.
 */
export function recordingsCapability(ctx: AppContext): Capability {
  // Looked for now, while the server is still starting; only processing jobs wait for the answer.
  const tools = findMediaTools(ctx.config.recordings.ffmpegPath);
  const svc = new RecordingService(ctx, new ChunkStore(ctx.config.dataDir), tools);
  const processor = new RecordingProcessor(ctx, svc);
  const runner = new JobRunner(
    ctx.db,
    ctx.log,
    {
      [PROCESS_JOB]: (ref, signal) => processor.process(ref, signal),
      [MP4_JOB]: (ref, signal) => processor.mp4(ref, signal),
    },
    {
      maxAttempts: recordingTimings.maxJobAttempts,
      retryMs: recordingTimings.jobRetryMs,
      onGiveUp: (kind, ref, err) => {
        if (kind === PROCESS_JOB) processor.fail(ref, err.message);
        else ctx.log.warn({ recordingId: ref, err: err.message }, "MP4 copy of a recording failed; the original stays READY");
      },
    },
  );
  svc.onJobQueued = () => runner.kick();
  const chunks = new ctx.metrics.Counter({
    name: "parley_recording_chunks_total",
    help: "Recording chunk uploads by result (stored, duplicate, or the refusal code)",
    labelNames: ["result"] as const,
    registers: [ctx.metrics.registry],
  });
  const bytes = new ctx.metrics.Counter({ name: "parley_recording_upload_bytes_total", help: "Bytes of recording chunks stored", registers: [ctx.metrics.registry] });

  const timers = new Set<NodeJS.Timeout>();
  const unsubscribe: (() => void)[] = [];
  const sweep = () => {
    try {
      svc.finalizeStale();
    } catch (err) {
      ctx.log.warn({ err }, "recording sweep failed");
    }
    runner.kick();
  };
  const retention = () => svc.applyRetention().catch((err) => ctx.log.warn({ err }, "recording retention failed"));

  return {
    name: "recordings",
    routes: recordingRoutes(svc, { chunks, bytes }),
    start() {
      void tools.then((found) => {
        if (!found.ffmpeg) {
          ctx.log.warn(
            { ffmpegPath: ctx.config.recordings.ffmpegPath },
            "ffmpeg not found: recordings are uploaded and kept as the browser made them, without remuxing (no duration, no seeking) or MP4; install it (apt-get install ffmpeg) or set PARLEY_FFMPEG_PATH",
          );
        } else if (!found.ffprobe) {
          ctx.log.warn("ffprobe not found beside ffmpeg: recordings are remuxed but their duration is not measured; install the full ffmpeg package (apt-get install ffmpeg)");
        }
      });
      runner.start();
      void retention();
      // After a room ends, give its uploads the grace period, then finalize whatever stopped.
      unsubscribe.push(
        ctx.bus.on("recording-consent", (e) => svc.noteConsent(e)),
        ctx.bus.on("room-ended", (e) => {
          svc.forgetRoom(e.roomId);
          const t = setTimeout(() => {
            timers.delete(t);
            sweep();
          }, recordingTimings.staleGraceMs + 50);
          t.unref();
          timers.add(t);
        }),
      );
      const every = setInterval(sweep, recordingTimings.sweepIntervalMs);
      const daily = setInterval(retention, recordingTimings.retentionIntervalMs);
      every.unref();
      daily.unref();
      timers.add(every).add(daily);
    },
    async stop() {
      for (const u of unsubscribe) u();
      for (const t of timers) clearTimeout(t);
      await runner.stop();
    },
  };
}
