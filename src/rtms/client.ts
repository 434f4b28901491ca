/**
 * The one seam between Parley and a Zoom RTMS stream. The real
 * implementation is the `@zoom/rtms` adapter (sdk.ts); the only other
 * implementation is the test simulator, which stands in for the SDK at
 * exactly this interface.
 */

/**
 * What Parley asks the stream for, set explicitly before every join.
 *
 * L16 (raw PCM, signed 16-bit little-endian) at 16 kHz mono, mixed stream,
 * 20 ms frames: 16 000 samples/s × 0.020 s = 320 samples × 2 bytes = 640
 * bytes per frame. The seed asked for OPUS in stereo with that same
 * 640-byte frame, which cannot hold: an Opus frame has no fixed size and a
 * stereo 20 ms L16 frame is 1 280 bytes. Raw L16 also makes the WAV exact —
 * the file is the samples Zoom sent, with a header, and nothing is decoded.
 */
export const AUDIO_PARAMS = {
  contentType: "raw_audio",
  codec: "L16",
  sampleRate: 16_000,
  channels: 1,
  dataOption: "mixed_stream",
  frameMs: 20,
  /** Samples per frame per channel (what the SDK's `frameSize` counts). */
  frameSamples: 320,
  frameBytes: 640,
} as const;
export type AudioParams = typeof AUDIO_PARAMS;

/** Bytes of L16 audio per millisecond at AUDIO_PARAMS (16 samples × 2 bytes). */
export const BYTES_PER_MS = (AUDIO_PARAMS.sampleRate / 1000) * 2 * AUDIO_PARAMS.channels;

export interface RtmsJoinOptions {
  kind: "meeting" | "engagement";
  /** Set for `meeting.rtms_started` streams. */
  meetingUuid?: string;
  /** Set for `contact_center.voice_rtms_started` streams. */
  engagementId?: string;
  streamId: string;
  serverUrls: string;
  /** hex HMAC-SHA256(client_secret, client_id + "," + meeting_uuid|engagement_id + "," + stream_id) */
  signature: string;
  clientId: string;
  audioParams: AudioParams;
  /** When Parley first saw the stream (epoch ms): every time below is relative to it. */
  streamStartedAtMs: number;
}

export interface RtmsTranscriptSegment {
  /** A sequence number from the stream when it has one; derived from the content otherwise. */
  seq?: number;
  speaker: string | null;
  /** Milliseconds since the stream started. */
  startMs: number;
  endMs: number;
  text: string;
}

export interface RtmsCallbacks {
  /** One L16 frame; `timestampMs` is milliseconds since the stream started. */
  onAudio(frame: Buffer, timestampMs: number, userId?: string): void;
  onTranscript(segment: RtmsTranscriptSegment): void;
  /** The stream ended or the connection was lost for good. */
  onLeave(reason: string): void;
}

/** One connection to one RTMS stream. */
export interface RtmsClient {
  join(options: RtmsJoinOptions, callbacks: RtmsCallbacks): Promise<void>;
  leave(): Promise<void>;
}

export type RtmsClientFactory = () => RtmsClient;
