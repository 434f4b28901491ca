import ffmpeg from "fluent-ffmpeg";

export interface Probe {
  durationSeconds: number | null;
  formatName: string | null;
  video: string[];
  audio: string[];
}

export type { MediaTools as Tools } from "../media/tools.js";
import type { MediaTools as Tools } from "../media/tools.js";

export function probe(tools: Tools, file: string): Promise<Probe> {
  return new Promise((resolve, reject) => {
    if (!tools.ffprobe) return reject(new Error("ffprobe is not available"));
    ffmpeg(file)
      .setFfprobePath(tools.ffprobe)
      .ffprobe((err: Error | null, data: ffmpeg.FfprobeData) => {
        if (err) return reject(new Error(`ffprobe: ${firstLine(err.message)}`));
        const d = Number(data.format.duration);
        resolve({
          durationSeconds: Number.isFinite(d) && d > 0 ? Math.round(d * 1000) / 1000 : null,
          formatName: data.format.format_name ?? null,
          video: data.streams.filter((s) => s.codec_type === "video").map((s) => s.codec_name ?? "?"),
          audio: data.streams.filter((s) => s.codec_type === "audio").map((s) => s.codec_name ?? "?"),
        });
      });
  });
}

/** WebM only carries VP8/VP9/AV1 video and Opus/Vorbis audio; anything else goes into Matroska. */
export function containerFor(p: Probe, mimeType: string): { format: "webm" | "matroska" | "mp4"; ext: string } {
  if (/mp4/i.test(mimeType) || /mp4|mov/.test(p.formatName ?? "")) return { format: "mp4", ext: "mp4" };
  const webmVideo = p.video.every((c) => ["vp8", "vp9", "av1"].includes(c));
  const webmAudio = p.audio.every((c) => ["opus", "vorbis"].includes(c));
  return webmVideo && webmAudio ? { format: "webm", ext: "webm" } : { format: "matroska", ext: "mkv" };
}

/**
 * Rewrites the container without touching the media (`-c copy`):
 * MediaRecorder writes WebM as a live stream, with no duration and no cues,
 * so players cannot show a length or seek until it is remuxed.
 */
export function remux(tools: Tools, input: string, output: string, format: "webm" | "matroska" | "mp4", signal?: AbortSignal): Promise<void> {
  return run(tools, input, output, signal, (cmd) => {
    cmd.outputOptions(["-map", "0", "-c", "copy"]).format(format);
    if (format === "mp4") cmd.outputOptions(["-movflags", "+faststart"]);
  });
}

/** H.264/AAC MP4 for players that do not read WebM (optional, on request). */
export function transcodeMp4(tools: Tools, input: string, output: string, signal?: AbortSignal): Promise<void> {
  return run(tools, input, output, signal, (cmd) => {
    cmd
      .outputOptions(["-map", "0:v:0?", "-map", "0:a:0?", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart"])
      .format("mp4");
  });
}

function run(tools: Tools, input: string, output: string, signal: AbortSignal | undefined, configure: (cmd: ffmpeg.FfmpegCommand) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!tools.ffmpeg) return reject(new Error("ffmpeg is not available"));
    if (signal?.aborted) return reject(new Error("aborted"));
    const cmd = ffmpeg(input).setFfmpegPath(tools.ffmpeg).inputOptions(["-hide_banner", "-nostdin"]);
    configure(cmd);
    let stderrTail = "";
    cmd
      .on("stderr", (line: string) => {
        stderrTail = (stderrTail + "\n" + line).slice(-600);
      })
      .on("error", (err: Error) => reject(new Error(`ffmpeg: ${firstLine(err.message)}${stderrTail ? ` (${lastLine(stderrTail)})` : ""}`)))
      .on("end", () => resolve())
      .output(output)
      .outputOptions(["-y"])
      .run();
    // A server that is stopping must not leave ffmpeg running behind it.
    signal?.addEventListener("abort", () => cmd.kill("SIGKILL"), { once: true });
  });
}

const firstLine = (s: string) => s.split("\n")[0]!.trim().slice(0, 300);
const lastLine = (s: string) =>
  s
    .trim()
    .split("\n")
    .filter((l) => l.trim())
    .slice(-1)[0]!
    .trim()
    .slice(0, 300);
