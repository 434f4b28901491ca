import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export interface MediaTools {
  ffmpeg: string | null;
  ffprobe: string | null;
}

const runs = (cmd: string) =>
  new Promise<boolean>((resolve) => {
    execFile(cmd, ["-version"], { timeout: 10_000 }, (err) => resolve(!err));
  });

const found = new Map<string, Promise<MediaTools>>();

/**
 * Finds ffmpeg (the configured path or PATH) and the ffprobe beside it, once
 * per path. Asynchronous so that start-up never waits on two child
 * processes (it was most of the single binary's start-up time). Missing
 * tools are not an error: recordings and RTMS audio are then kept as they
 * arrived.
 */
export function findMediaTools(ffmpegPath: string): Promise<MediaTools> {
  let p = found.get(ffmpegPath);
  if (!p) {
    p = (async () => {
      const ff = (await runs(ffmpegPath)) ? ffmpegPath : null;
      let probe: string | null = null;
      if (ff) {
        const sibling = ffmpegPath.includes("/") ? join(dirname(ffmpegPath), basename(ffmpegPath).replace(/ffmpeg/, "ffprobe")) : "ffprobe";
        if ((sibling === "ffprobe" || existsSync(sibling)) && (await runs(sibling))) probe = sibling;
        else if (await runs("ffprobe")) probe = "ffprobe";
      }
      return { ffmpeg: ff, ffprobe: probe };
    })();
    found.set(ffmpegPath, p);
  }
  return p;
}
