import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./server.js";

/** A real WebM as MediaRecorder makes it: VP8 + Opus, written live (no duration, no cues). */
export function makeWebm(seconds: number): Buffer {
  const file = join(tempDir("parley-webm-"), "t.webm");
  execFileSync("ffmpeg", [
    "-hide_banner", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    "-t", String(seconds), "-c:v", "libvpx", "-deadline", "realtime", "-b:v", "400k", "-c:a", "libopus",
    "-live", "1", "-f", "webm", file,
  ]);
  return readFileSync(file);
}

export function split(buf: Buffer, parts: number): Buffer[] {
  const size = Math.ceil(buf.length / parts);
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}
