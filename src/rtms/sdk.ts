import type { RtmsCallbacks, RtmsClient, RtmsClientFactory, RtmsJoinOptions } from "./client.js";

/**
 * The part of `@zoom/rtms` (1.x) this adapter uses. Declared here rather
 * than imported: the package is an optional dependency that needs Node 22
 * and a vendor download, so its types are not there to import when it is
 * not installed — and the build must not depend on it.
 */
interface SdkMetadata {
  userName?: string;
  userId?: number | string;
  /** Newer SDKs pass transcript timing (same clock as `timestamp`). */
  startTime?: number;
  endTime?: number;
  start_time?: number;
  end_time?: number;
}
type SdkDataCallback = (buffer: Buffer, size: number, timestamp: number, metadata: SdkMetadata) => void;
interface SdkClient {
  setAudioParams(params: Record<string, number>): boolean;
  onAudioData(cb: SdkDataCallback): boolean;
  onTranscriptData(cb: SdkDataCallback): boolean;
  onJoinConfirm(cb: (reason: number) => void): boolean;
  onLeave(cb: (reason: number) => void): boolean;
  join(params: Record<string, unknown>): boolean;
  leave(): boolean;
}
interface SdkModule {
  Client: new () => SdkClient;
  AudioContentType?: Record<string, number>;
  AudioCodec?: Record<string, number>;
  AudioSampleRate?: Record<string, number>;
  AudioChannel?: Record<string, number>;
  AudioDataOption?: Record<string, number>;
  StopReason?: Record<string, number>;
}

export const SDK_PACKAGE = "@zoom/rtms";
const REQUIRED_NODE_MAJOR = 22;
/** How long a join may wait for the server's confirmation. */
const JOIN_CONFIRM_TIMEOUT_MS = 15_000;

export type SdkLoad = { ok: true; factory: RtmsClientFactory } | { ok: false; reason: string };

/**
 * Loads the SDK lazily. Never throws: whatever is missing becomes the
 * reason the ingest is unavailable, and the rest of the server runs.
 */
export async function loadSdk(nodeVersion = process.versions.node): Promise<SdkLoad> {
  const major = Number(nodeVersion.split(".")[0]);
  if (major < REQUIRED_NODE_MAJOR) {
    return { ok: false, reason: `${SDK_PACKAGE} needs Node ${REQUIRED_NODE_MAJOR} or newer; this is Node ${nodeVersion}` };
  }
  let mod: SdkModule;
  try {
    // A variable specifier keeps TypeScript and bundlers from resolving the optional package at build time.
    const specifier: string = SDK_PACKAGE;
    const imported = (await import(specifier)) as { default?: SdkModule } & SdkModule;
    mod = imported.default?.Client ? imported.default : imported;
    if (typeof mod.Client !== "function") return { ok: false, reason: `${SDK_PACKAGE} loaded but has no Client class (unexpected version)` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      ok: false,
      reason:
        code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND"
          ? `${SDK_PACKAGE} is not installed (optional dependency: it needs Node ${REQUIRED_NODE_MAJOR} and Zoom's native library)`
          : `${SDK_PACKAGE} failed to load: ${(err as Error).message}`,
    };
  }
  return { ok: true, factory: () => new SdkRtmsClient(mod) };
}

/** Adapts one `@zoom/rtms` Client to Parley's RtmsClient. */
class SdkRtmsClient implements RtmsClient {
  private client?: SdkClient;

  constructor(private readonly sdk: SdkModule) {}

  async join(o: RtmsJoinOptions, cb: RtmsCallbacks): Promise<void> {
    const sdk = this.sdk;
    const client = new sdk.Client();
    this.client = client;
    const pick = (table: Record<string, number> | undefined, key: string, fallback: number) => table?.[key] ?? fallback;
    // Before join, always: the SDK's defaults (OPUS) are not what the WAV conversion expects.
    // Fallback numbers are the RTMS protocol's own values for these names.
    const ok = client.setAudioParams({
      contentType: pick(sdk.AudioContentType, "RAW_AUDIO", 2),
      codec: pick(sdk.AudioCodec, "L16", 1),
      sampleRate: pick(sdk.AudioSampleRate, "SR_16K", 1),
      channel: pick(sdk.AudioChannel, "MONO", 1),
      dataOpt: pick(sdk.AudioDataOption, "AUDIO_MIXED_STREAM", 1),
      duration: o.audioParams.frameMs,
      frameSize: o.audioParams.frameSamples,
    });
    if (ok === false) throw new Error("the SDK refused the audio parameters (L16, 16 kHz, mono, mixed, 20 ms)");

    // SDK timestamps are on Zoom's clock; frames are placed relative to the
    // first one seen, anchored at the wall-clock time it arrived, so a rejoin
    // after a restart lands on the same timeline.
    let base: { ts: number; rel: number } | undefined;
    const rel = (ts: number) => {
      base ??= { ts, rel: Math.max(0, Date.now() - o.streamStartedAtMs) };
      return Math.max(0, Math.round(ts - base.ts + base.rel));
    };
    client.onAudioData((buffer, _size, timestamp, metadata) => {
      cb.onAudio(buffer, rel(timestamp), metadata?.userId === undefined ? undefined : String(metadata.userId));
    });
    client.onTranscriptData((buffer, _size, timestamp, metadata) => {
      const start = metadata?.startTime ?? metadata?.start_time ?? timestamp;
      const end = metadata?.endTime ?? metadata?.end_time;
      const startMs = rel(start);
      cb.onTranscript({
        speaker: metadata?.userName || null,
        startMs,
        endMs: end === undefined ? startMs : Math.max(startMs, rel(end)),
        text: buffer.toString("utf8"),
      });
    });
    const stopNames = Object.fromEntries(Object.entries(sdk.StopReason ?? {}).map(([k, v]) => [v, k]));
    client.onLeave((reason) => cb.onLeave(stopNames[reason] ?? `code ${reason}`));

    const confirmed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no join confirmation within ${JOIN_CONFIRM_TIMEOUT_MS / 1000} s`)), JOIN_CONFIRM_TIMEOUT_MS);
      timer.unref();
      client.onJoinConfirm((reason) => {
        clearTimeout(timer);
        if (reason === 0) resolve();
        else reject(new Error(`join refused (reason ${stopNames[reason] ?? reason})`));
      });
    });
    // The SDK's join takes the contact-center engagement id in the meeting_uuid slot
    // (the signature is computed over it the same way); engagement_id is passed too for SDKs that read it.
    const started = client.join({
      meeting_uuid: o.meetingUuid ?? o.engagementId,
      ...(o.engagementId ? { engagement_id: o.engagementId } : {}),
      rtms_stream_id: o.streamId,
      server_urls: o.serverUrls,
      signature: o.signature,
      client: o.clientId,
    });
    if (started === false) throw new Error("the SDK could not start the join");
    await confirmed;
  }

  async leave(): Promise<void> {
    try {
      this.client?.leave();
    } finally {
      this.client = undefined;
    }
  }
}
