import { allRecordings, chunkIndexes, deleteChunk, deleteRecording, getChunk, getRecording, putRecording, type PendingRecording } from "./store.js";

export interface UploadProgress {
  recordingId: string;
  /** Chunks recorded but not yet acknowledged by the server. */
  pending: number;
  uploadedBytes: number;
  state: "recording" | "uploading" | "completing" | "done" | "failed";
  error?: string;
}

const RETRY_MS = [500, 1000, 2000, 4000, 8000];

/**
 * Sends one recording's chunks, in order, each as soon as it is stored;
 * a chunk leaves IndexedDB only once the server answered 2xx. Failures are
 * retried with back-off; a 4xx that retrying cannot fix stops the upload.
 */
export class ChunkUploader {
  private queue: number[] = [];
  private running = false;
  private uploadedBytes = 0;
  private idle: (() => void)[] = [];
  private failed: string | undefined;

  constructor(
    private rec: PendingRecording,
    private readonly onProgress: (p: UploadProgress) => void,
  ) {}

  get recordingId(): string {
    return this.rec.recordingId;
  }

  enqueue(index: number): void {
    if (!this.queue.includes(index)) this.queue.push(index);
    this.report("uploading");
    void this.run();
  }

  private url(path = ""): string {
    return `${this.rec.origin}/api/recordings/${this.rec.recordingId}${path}`;
  }

  private report(state: UploadProgress["state"]): void {
    this.onProgress({ recordingId: this.rec.recordingId, pending: this.queue.length + (this.running ? 1 : 0), uploadedBytes: this.uploadedBytes, state, error: this.failed });
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length && !this.failed) {
        this.queue.sort((a, b) => a - b);
        const index = this.queue[0]!;
        const blob = await getChunk(this.rec.recordingId, index);
        if (blob) await this.send(index, blob);
        this.queue.shift();
        this.report(this.rec.stopped ? "uploading" : "recording");
      }
    } finally {
      this.running = false;
      if (!this.queue.length) for (const f of this.idle.splice(0)) f();
    }
  }

  private async send(index: number, blob: Blob): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let status = 0;
      try {
        const res = await fetch(this.url(`/chunks/${index}`), { method: "PUT", headers: { authorization: `Bearer ${this.rec.token}`, "content-type": "application/octet-stream" }, body: blob });
        status = res.status;
        if (res.ok) {
          this.uploadedBytes += blob.size;
          await deleteChunk(this.rec.recordingId, index);
          return;
        }
        // Refusals that a retry cannot change: stop and say so (the chunks stay stored).
        if (status === 401 || status === 403 || status === 404 || status === 409 || status === 410 || status === 413) {
          const body = (await res.json().catch(() => ({}))) as { detail?: string; code?: string };
          if (body.code === "recording_closed" || status === 404 || status === 410) {
            await deleteChunk(this.rec.recordingId, index);
            return;
          }
          this.failed = body.detail ?? `upload refused (HTTP ${status})`;
          this.report("failed");
          return;
        }
      } catch {
        // Offline or the server restarting: retry below.
      }
      await new Promise((r) => setTimeout(r, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]));
    }
  }

  /** Resolves once every queued chunk is acknowledged. */
  drained(): Promise<void> {
    if (!this.running && !this.queue.length) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  /**
   * After a reload: ask the server what it has, send what it lacks from
   * IndexedDB, and complete when the recorder had stopped.
   */
  async resume(): Promise<void> {
    const res = await fetch(this.url("/upload"), { headers: { authorization: `Bearer ${this.rec.token}` } });
    if (res.status === 404 || res.status === 403 || res.status === 401) {
      await deleteRecording(this.rec.recordingId);
      return;
    }
    const { received, status } = (await res.json()) as { received: number[]; status: string };
    const have = new Set(received);
    for (const i of await chunkIndexes(this.rec.recordingId)) {
      if (have.has(i)) await deleteChunk(this.rec.recordingId, i);
      else this.queue.push(i);
    }
    if (status !== "UPLOADING") {
      await deleteRecording(this.rec.recordingId);
      return;
    }
    // Count from what exists, not the stored counter: the tab may have died between counting a chunk and storing it.
    const top = Math.max(-1, ...received, ...this.queue);
    if (top < 0) {
      await deleteRecording(this.rec.recordingId);
      return;
    }
    this.rec.nextIndex = top + 1;
    void this.run();
    await this.complete();
  }

  /** Every chunk up, then `complete`; the IndexedDB entry goes once the server accepted. */
  async complete(): Promise<void> {
    this.rec.stopped = true;
    await putRecording(this.rec);
    await this.drained();
    if (this.failed) return;
    this.report("completing");
    const res = await fetch(this.url("/complete"), {
      method: "POST",
      headers: { authorization: `Bearer ${this.rec.token}`, "content-type": "application/json" },
      body: JSON.stringify({ chunks: this.rec.nextIndex }),
    });
    if (res.ok || res.status === 404) {
      await deleteRecording(this.rec.recordingId);
      this.report("done");
    } else {
      const body = (await res.json().catch(() => ({}))) as { detail?: string };
      this.failed = body.detail ?? `complete refused (HTTP ${res.status})`;
      this.report("failed");
    }
  }

  static async pendingFor(roomId: string): Promise<PendingRecording[]> {
    return (await allRecordings()).filter((r) => r.roomId === roomId);
  }

  static async load(id: string): Promise<PendingRecording | undefined> {
    return getRecording(id);
  }
}
