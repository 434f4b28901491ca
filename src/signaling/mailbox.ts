import { frameOf } from "./frames.js";
import { REPLAY_HARD_MAX_BYTES, REPLAY_HARD_MAX_MESSAGES, REPLAY_MIN_AGE_MS, REPLAY_MIN_MESSAGES } from "./limits.js";

/**
 * One participant's inbox: every frame gets the next `seq` and stays here
 * (as the one string that was sent) until the client acknowledged it or it
 * falls out of the replay window, so a reconnect can be replayed exactly.
 * A ring buffer: appending and trimming never move the other entries.
 */
export class Mailbox {
  private frames: (string | undefined)[] = new Array(8);
  private times: number[] = new Array(8);
  private head = 0;
  private count = 0;
  private bytes = 0;
  /** seq of the oldest retained frame. */
  private firstSeq: number;
  /** seq of the newest frame (0 = none yet). */
  lastSeq: number;

  constructor(startAfter = 0) {
    this.lastSeq = startAfter;
    this.firstSeq = startAfter + 1;
  }

  /** Appends a frame for this recipient; returns the frame string (its seq is `lastSeq`). */
  append(tail: string, now = Date.now()): string {
    const seq = ++this.lastSeq;
    const frame = frameOf(seq, tail);
    if (this.count === this.frames.length) this.grow();
    const i = (this.head + this.count) % this.frames.length;
    this.frames[i] = frame;
    this.times[i] = now;
    this.count++;
    this.bytes += frame.length;
    this.trim(now);
    return frame;
  }

  /** The client has everything up to `seq`: those frames are no longer needed for replay. */
  ack(seq: number): void {
    while (this.count > 0 && this.firstSeq <= seq) this.dropOldest();
  }

  /** Whether a client that has everything up to `after` can be brought up to date from here. */
  canReplayFrom(after: number): boolean {
    return Number.isInteger(after) && after >= this.firstSeq - 1 && after <= this.lastSeq;
  }

  /** Frames after `after`, oldest first (at most `max`). Call only when `canReplayFrom(after)`. */
  since(after: number, max = Infinity): string[] {
    const out: string[] = [];
    const start = Math.max(after + 1, this.firstSeq);
    for (let seq = start; seq <= this.lastSeq && out.length < max; seq++) {
      out.push(this.frames[(this.head + (seq - this.firstSeq)) % this.frames.length]!);
    }
    return out;
  }

  private trim(now: number): void {
    while (
      this.count > REPLAY_HARD_MAX_MESSAGES ||
      this.bytes > REPLAY_HARD_MAX_BYTES ||
      (this.count > REPLAY_MIN_MESSAGES && now - this.times[this.head]! > REPLAY_MIN_AGE_MS)
    ) {
      this.dropOldest();
    }
  }

  private dropOldest(): void {
    this.bytes -= this.frames[this.head]!.length;
    this.frames[this.head] = undefined;
    this.head = (this.head + 1) % this.frames.length;
    this.count--;
    this.firstSeq++;
  }

  private grow(): void {
    const size = this.frames.length * 2;
    const frames: (string | undefined)[] = new Array(size);
    const times: number[] = new Array(size);
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) % this.frames.length;
      frames[k] = this.frames[i];
      times[k] = this.times[i]!;
    }
    this.frames = frames;
    this.times = times;
    this.head = 0;
  }
}
