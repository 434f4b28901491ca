import { z } from "zod";
import { MAX_CHUNK_INDEX } from "./limits.js";

/** What MediaRecorder produces in Chromium, Firefox and Safari (codecs parameters allowed). */
export const mimeTypeSchema = z
  .string()
  .trim()
  .max(200)
  .regex(/^(video|audio)\/(webm|mp4|x-matroska|ogg)(\s*;.*)?$/i, "must be a MediaRecorder type such as video/webm;codecs=vp8,opus");

export const startRecordingBody = z.object({
  mimeType: mimeTypeSchema,
  /** `self`: the participant's own camera and microphone; `composite`: every tile and voice mixed (hosts and moderators). */
  mode: z.enum(["self", "composite"]).default("self"),
});

export const completeRecordingBody = z.object({
  /** How many chunks the recording has: indexes 0 … chunks-1 must all have arrived. */
  chunks: z
    .number()
    .int()
    .min(1)
    .max(MAX_CHUNK_INDEX + 1),
  /** Also produce an H.264/AAC MP4 beside the WebM (needs ffmpeg). */
  mp4: z.boolean().default(false),
});

export const recordingView = z.object({
  recordingId: z.string(),
  roomId: z.string(),
  sessionId: z.string(),
  participantId: z.string(),
  mode: z.string(),
  status: z.enum(["UPLOADING", "PROCESSING", "READY", "FAILED"]),
  mimeType: z.string(),
  format: z.string().nullable(),
  sizeBytes: z.number(),
  durationSeconds: z.number().nullable(),
  processed: z.boolean(),
  /** Why the file is as it is (not processed because ffmpeg is missing, finalized from an incomplete upload). */
  note: z.string().nullable(),
  failureReason: z.string().nullable(),
  chunksReceived: z.number(),
  expectedChunks: z.number().nullable(),
  mp4: z.boolean(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  downloadUrl: z.string().nullable(),
});
export type RecordingView = z.output<typeof recordingView>;

export const storageStats = z.object({
  recordings: z.number(),
  byStatus: z.record(z.string(), z.object({ count: z.number(), sizeBytes: z.number() })),
  totalBytes: z.number(),
  diskBytes: z.number(),
  freeBytes: z.number().nullable(),
  retentionDays: z.number(),
  ffmpeg: z.boolean(),
  limits: z.object({ maxChunkBytes: z.number(), maxRecordingBytes: z.number() }),
});
