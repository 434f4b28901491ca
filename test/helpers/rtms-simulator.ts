/**
 * SIMULATOR — stands in for the Zoom RTMS SDK (`@zoom/rtms`) in tests.
 *
 * The real SDK cannot be installed here (it needs Node 22 and Zoom's native
 * library), so tests drive the ingest through this stand-in, which
 * implements exactly Parley's `RtmsClient` interface (src/rtms/client.ts)
 * and nothing more. It plays Zoom's side: it checks the join signature the
 * way Zoom would, records the audio parameters it was asked for, and lets a
 * test push audio frames and transcript segments through the same callbacks
 * the SDK adapter calls.
 */
import { createHmac } from "node:crypto";
import type { RtmsCallbacks, RtmsClient, RtmsClientFactory, RtmsJoinOptions, RtmsTranscriptSegment } from "../../src/rtms/client.js";

export class SimulatedStream {
  left = false;
  constructor(
    readonly options: RtmsJoinOptions,
    private readonly callbacks: RtmsCallbacks,
  ) {}

  audio(frame: Buffer, timestampMs: number): void {
    if (!this.left) this.callbacks.onAudio(frame, timestampMs);
  }

  transcript(segment: RtmsTranscriptSegment): void {
    if (!this.left) this.callbacks.onTranscript(segment);
  }

  /** Zoom ends the stream on its side (meeting over, app removed…). */
  end(reason: string): void {
    if (this.left) return;
    this.left = true;
    this.callbacks.onLeave(reason);
  }
}

export class RtmsSimulator {
  /** Every join attempt, in order (a rejoin after a restart is a new entry). */
  readonly joins: SimulatedStream[] = [];
  private waiters: { streamId: string; count: number; resolve: (s: SimulatedStream) => void }[] = [];

  constructor(private readonly credentials: { clientId: string; clientSecret: string }) {}

  readonly factory: RtmsClientFactory = () => {
    let stream: SimulatedStream | undefined;
    const client: RtmsClient = {
      join: async (options, callbacks) => {
        const id = options.meetingUuid ?? options.engagementId ?? "";
        const expected = createHmac("sha256", this.credentials.clientSecret).update(`${this.credentials.clientId},${id},${options.streamId}`).digest("hex");
        if (options.signature !== expected) throw new Error("simulated Zoom refused the join: bad signature");
        stream = new SimulatedStream(options, callbacks);
        this.joins.push(stream);
        this.notify();
      },
      leave: async () => {
        if (stream) stream.left = true;
      },
    };
    return client;
  };

  /** Resolves with the `count`-th successful join of a stream. */
  waitForJoin(streamId: string, count = 1): Promise<SimulatedStream> {
    return new Promise((resolve) => {
      this.waiters.push({ streamId, count, resolve });
      this.notify();
    });
  }

  private notify(): void {
    this.waiters = this.waiters.filter((w) => {
      const joined = this.joins.filter((j) => j.options.streamId === w.streamId);
      if (joined.length < w.count) return true;
      w.resolve(joined[w.count - 1]!);
      return false;
    });
  }
}
