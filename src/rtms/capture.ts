import { createWriteStream, existsSync, statSync, truncateSync, type WriteStream } from "node:fs";
import { BYTES_PER_MS, AUDIO_PARAMS } from "./client.js";

/** A gap longer than this between frames is filled with silence, so audio stays aligned with transcript times. */
const GAP_FILL_MIN_MS = 200;
/** Larger gaps are not filled: the stream's clock has jumped, and an hour of silence would help nobody. */
const GAP_FILL_MAX_MS = 60_000;

/**
 * Appends L16 frames to `<dataDir>/rtms/<stream>.raw` as they arrive. The
 * file is a timeline: byte offset = milliseconds since the stream started ×
 * 32. One capture lives for one join: frames that what earlier joins already
 * wrote covers (a re-delivery after a reconnect or a restart) are skipped,
 * so the audio is never doubled; a gap in the timestamps is filled with
 * silence. Within a join frames are trusted in arrival order — timestamps
 * only decide at the rejoin boundary and for gaps, so jitter never drops audio.
 */
export class AudioCapture {
  private readonly out: WriteStream;
  private bytes: number;
  private readonly resumedAtMs: number;
  private failed?: Error;

  constructor(readonly path: string) {
    let size = existsSync(path) ? statSync(path).size : 0;
    // A crash can leave half a sample at the end; keep the file sample-aligned.
    const aligned = size - (size % (2 * AUDIO_PARAMS.channels));
    if (aligned !== size) {
      truncateSync(path, aligned);
      size = aligned;
    }
    this.bytes = size;
    this.resumedAtMs = size / BYTES_PER_MS;
    this.out = createWriteStream(path, { flags: "a" });
    this.out.on("error", (err) => {
      this.failed = err;
    });
  }

  /** Bytes accepted so far (queued or written). */
  get size(): number {
    return this.bytes;
  }

  get error(): Error | undefined {
    return this.failed;
  }

  /** Returns false when the frame was already captured by an earlier join. */
  write(frame: Buffer, timestampMs: number): boolean {
    if (this.failed || frame.length === 0) return false;
    const frameMs = frame.length / BYTES_PER_MS;
    if (timestampMs + frameMs <= this.resumedAtMs) return false;
    const coveredMs = this.bytes / BYTES_PER_MS;
    const gapMs = timestampMs - coveredMs;
    if (gapMs >= GAP_FILL_MIN_MS && gapMs <= GAP_FILL_MAX_MS) {
      const silence = Buffer.alloc(Math.round(gapMs) * BYTES_PER_MS);
      this.out.write(silence);
      this.bytes += silence.length;
    }
    const aligned = frame.length % 2 === 0 ? frame : frame.subarray(0, frame.length - 1);
    this.out.write(aligned);
    this.bytes += aligned.length;
    return true;
  }

  /** Flushes and closes the file. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.out.closed || this.out.destroyed) return resolve();
      this.out.end(() => resolve());
      this.out.once("error", () => resolve());
    });
  }
}
