import { createComposite, type CompositeSource } from "./composite.js";
import { putChunk, putRecording, type PendingRecording } from "./store.js";
import { ChunkUploader, type UploadProgress } from "./uploader.js";

/** MediaRecorder hands over a chunk this often; a crash loses at most this much. */
export const TIMESLICE_MS = 2000;
const CONSENT_REFRESH_MS = 4000;

export interface RecorderOptions {
  origin: string;
  token: string;
  roomId: string;
  selfId: string;
  mode: "self" | "composite";
  /** `self`: the participant's own camera and microphone. */
  localStream(): MediaStream;
  /** `composite`: every tile by participant id (self included). */
  getTiles(): Map<string, MediaStream>;
  onProgress(p: UploadProgress): void;
  /** `composite`: who is drawn and heard now (only those who consented). */
  onIncluded?(ids: string[]): void;
}

export class RecordingRefused extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly missing: { participantId: string; name: string | null; refused: boolean }[] = [],
  ) {
    super(message);
  }
}

export interface Recorder {
  recordingId: string;
  stop(): Promise<void>;
}

function pickMimeType(): string {
  for (const t of ["video/webm;codecs=vp8,opus", "video/webm;codecs=vp9,opus", "video/webm", "video/mp4"]) {
    if (MediaRecorder.isTypeSupported(t)) return t;
  }
  return "";
}

/**
 * Starts a recording: asks the server (which checks consent), then records
 * with a short timeslice; each chunk goes to IndexedDB and straight on to
 * the server. Call inside a click handler: Web Audio needs a user gesture.
 */
export async function createRecorder(o: RecorderOptions): Promise<Recorder> {
  const mimeType = pickMimeType();
  const res = await fetch(`${o.origin}/api/recordings`, {
    method: "POST",
    headers: { authorization: `Bearer ${o.token}`, "content-type": "application/json" },
    body: JSON.stringify({ mimeType: mimeType || "video/webm", mode: o.mode }),
  });
  const body = (await res.json().catch(() => ({}))) as { recordingId?: string; code?: string; detail?: string; missing?: RecordingRefused["missing"] };
  if (res.status !== 201 || !body.recordingId) throw new RecordingRefused(body.code ?? "error", body.detail ?? `Could not start recording (HTTP ${res.status}).`, body.missing);

  const rec: PendingRecording = { recordingId: body.recordingId, roomId: o.roomId, origin: o.origin, token: o.token, mimeType, nextIndex: 0, stopped: false, createdAt: Date.now() };
  await putRecording(rec);
  const uploader = new ChunkUploader(rec, o.onProgress);

  let audio: AudioContext | undefined;
  let composite: CompositeSource | undefined;
  let consentTimer: ReturnType<typeof setInterval> | undefined;
  let stream: MediaStream;
  if (o.mode === "composite") {
    audio = new AudioContext();
    composite = createComposite(o.getTiles, audio);
    const include = (ids: Set<string>) => {
      composite!.setIncluded(ids);
      o.onIncluded?.([...ids].sort());
    };
    const refresh = async () => {
      const r = await fetch(`${o.origin}/api/recordings/${rec.recordingId}/upload`, { headers: { authorization: `Bearer ${o.token}` } }).catch(() => undefined);
      if (r?.ok) include(new Set(((await r.json()) as { consented: string[] }).consented.concat(o.selfId)));
    };
    // Everyone present consented when the server accepted the start; later joiners appear once they do.
    include(new Set(o.getTiles().keys()));
    consentTimer = setInterval(refresh, CONSENT_REFRESH_MS);
    stream = composite.stream();
  } else {
    stream = o.localStream();
  }

  const mr = new MediaRecorder(stream, mimeType ? { mimeType } : undefined);
  let chain = Promise.resolve();
  mr.ondataavailable = (e) => {
    if (!e.data || e.data.size === 0) return;
    const index = rec.nextIndex++;
    // Stored before it is sent: if the tab dies mid-upload, the chunk is still there after a reload.
    chain = chain.then(async () => {
      await putChunk(rec.recordingId, index, e.data);
      await putRecording(rec);
      uploader.enqueue(index);
    });
  };
  const stopped = new Promise<void>((resolve) => (mr.onstop = () => resolve()));
  mr.start(TIMESLICE_MS);
  o.onProgress({ recordingId: rec.recordingId, pending: 0, uploadedBytes: 0, state: "recording" });

  return {
    recordingId: rec.recordingId,
    async stop() {
      if (mr.state !== "inactive") mr.stop();
      await stopped;
      await chain;
      clearInterval(consentTimer);
      composite?.stop();
      await audio?.close().catch(() => {});
      await uploader.complete();
    },
  };
}

/** Unfinished uploads of this room left by a reload or crash: send what is missing, then complete them. */
export async function resumeUploads(roomId: string, token: string, onProgress: (p: UploadProgress) => void): Promise<number> {
  const pending = await ChunkUploader.pendingFor(roomId);
  for (const rec of pending) {
    // A reload may bring a fresh token for the same person; the stored one may have expired.
    const u = new ChunkUploader({ ...rec, token: rec.token || token, stopped: true }, onProgress);
    await u.resume().catch(() => {});
  }
  return pending.length;
}
