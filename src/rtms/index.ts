import type { CapabilityFactory } from "../server.js";
import type { RtmsClientFactory } from "./client.js";
import { RtmsIngest } from "./ingest.js";
import { rtmsRoutes } from "./routes.js";

export { transcriptStats, type TranscriptStats } from "./transcript.js";
export { zoomRoomId } from "./ingest.js";

/**
 * Zoom RTMS ingest: the verified webhook, stream capture, WAV conversion
 * and the transcription endpoint. `clientFactory` replaces the `@zoom/rtms`
 * adapter — only tests pass one (the RTMS simulator).
 */
export function rtmsCapability(opts: { clientFactory?: RtmsClientFactory } = {}): CapabilityFactory {
  return (ctx) => {
    const ingest = new RtmsIngest(ctx, opts);
    return {
      name: "rtms",
      routes: () => rtmsRoutes(ctx, ingest),
      start: () => ingest.start(),
      stop: () => ingest.stop(),
    };
  };
}
