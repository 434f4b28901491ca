import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, renameSync, rmSync, unlinkSync } from "node:fs";
import { open, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { HttpProblem } from "../http/problem.js";

export interface StagedChunk {
  /** Temporary file holding the bytes; `commit` renames it into place, `discard` removes it. */
  tempPath: string;
  sizeBytes: number;
  /** Only when asked for (a client sent X-Chunk-Sha256): hashing costs more CPU than the rest of an upload. */
  sha256: string | null;
}

/**
 * Files of recordings under `<dataDir>/recordings/<id>/`: one file per chunk
 * while uploading, then the processed recording. A chunk is first streamed
 * into a temporary file and renamed into place only once it is complete and
 * verified, so a crash mid-upload never leaves a half chunk behind.
 */
export class ChunkStore {
  readonly root: string;
  constructor(dataDir: string) {
    this.root = join(dataDir, "recordings");
    mkdirSync(this.root, { recursive: true });
  }

  dir(recordingId: string): string {
    return join(this.root, recordingId);
  }

  chunkPath(recordingId: string, index: number): string {
    return join(this.dir(recordingId), "chunks", `${String(index).padStart(6, "0")}.chunk`);
  }

  /**
   * Streams a request body into a temporary file while hashing it, cutting it
   * off at `maxBytes` (the body is never held in memory as a whole).
   */
  async stage(recordingId: string, body: Readable, maxBytes: number, tooLarge: () => Error, withHash: boolean): Promise<StagedChunk> {
    const chunksDir = join(this.dir(recordingId), "chunks");
    mkdirSync(chunksDir, { recursive: true });
    const tempPath = join(chunksDir, `.${randomBytes(6).toString("hex")}.tmp`);
    const hash = withHash ? createHash("sha256") : null;
    const out = createWriteStream(tempPath);
    let size = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        const fail = (err: Error) => {
          body.off("data", onData);
          // Paused, not destroyed: the 413 must still reach the client; the route closes the connection after it.
          body.pause();
          reject(err);
        };
        const onData = (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) return fail(tooLarge());
          hash?.update(chunk);
          if (!out.write(chunk)) {
            body.pause();
            out.once("drain", () => body.resume());
          }
        };
        body.on("data", onData);
        body.once("end", () => out.end(resolve));
        body.once("aborted", () => fail(new HttpProblem(400, "upload_interrupted", "The chunk's body ended before it was complete; send it again.")));
        body.once("error", () => fail(new HttpProblem(400, "upload_interrupted", "The chunk's body ended before it was complete; send it again.")));
        out.once("error", fail);
      });
    } catch (err) {
      out.destroy();
      rmSync(tempPath, { force: true });
      throw err;
    }
    return { tempPath, sizeBytes: size, sha256: hash ? hash.digest("hex") : null };
  }

  /** Synchronous on purpose: the caller claims the index in SQLite and renames in one turn of the event loop. */
  commit(staged: StagedChunk, recordingId: string, index: number): void {
    renameSync(staged.tempPath, this.chunkPath(recordingId, index));
  }

  /** Whether a staged chunk holds the same bytes as the stored chunk `index` (a retried upload). */
  async sameAsStored(staged: StagedChunk, recordingId: string, index: number): Promise<boolean> {
    const [a, b] = await Promise.all([readFile(staged.tempPath), readFile(this.chunkPath(recordingId, index)).catch(() => null)]);
    return b !== null && a.equals(b);
  }

  discard(staged: StagedChunk): void {
    rmSync(staged.tempPath, { force: true });
  }

  /** Concatenates the given chunks, in the order given, into `target` (written under a temporary name, then renamed). */
  async concatenate(recordingId: string, indexes: number[], target: string): Promise<number> {
    const temp = `${target}.${randomBytes(4).toString("hex")}.tmp`;
    const out = await open(temp, "w");
    let total = 0;
    try {
      // Chunks are small (MAX_CHUNK_BYTES), so reading each whole keeps this simple and fast.
      for (const i of indexes) {
        const bytes = await readFile(this.chunkPath(recordingId, i));
        await out.write(bytes);
        total += bytes.length;
      }
      await out.close();
      renameSync(temp, target);
      return total;
    } catch (err) {
      await out.close().catch(() => {});
      rmSync(temp, { force: true });
      throw err;
    }
  }

  async removeChunks(recordingId: string): Promise<void> {
    await rm(join(this.dir(recordingId), "chunks"), { recursive: true, force: true });
  }

  async removeRecording(recordingId: string): Promise<void> {
    await rm(this.dir(recordingId), { recursive: true, force: true });
  }

  removeFile(path: string): void {
    try {
      unlinkSync(path);
    } catch {
      // Already gone: nothing to do.
    }
  }

  /** Bytes on disk under the recordings folder (temporary files included). */
  async diskUsage(): Promise<number> {
    const walk = async (dir: string): Promise<number> => {
      let total = 0;
      for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const p = join(dir, e.name);
        if (e.isDirectory()) total += await walk(p);
        else total += (await stat(p).catch(() => ({ size: 0 }))).size;
      }
      return total;
    };
    return walk(this.root);
  }
}
