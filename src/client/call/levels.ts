/**
 * Microphone level from an AnalyserNode: drives the pre-join meter, the
 * self tile's speaking ring and `talkMs` in the stats report.
 */
let shared: AudioContext | undefined;

/** One AudioContext for the page; browsers start it suspended until a click, so resume on gestures. */
export function audioContext(): AudioContext | undefined {
  if (shared) return shared;
  const Ctor = window.AudioContext ?? (window as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
  if (!Ctor) return undefined;
  shared = new Ctor();
  const resume = () => void shared?.resume().catch(() => undefined);
  addEventListener("pointerdown", resume, { capture: true });
  addEventListener("keydown", resume, { capture: true });
  return shared;
}

export class LevelMeter {
  private source?: MediaStreamAudioSourceNode;
  private analyser?: AnalyserNode;
  private buf = new Float32Array(512);

  attach(track: MediaStreamTrack | undefined): void {
    this.detach();
    const ctx = audioContext();
    if (!ctx || !track) return;
    this.source = ctx.createMediaStreamSource(new MediaStream([track]));
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = 512;
    this.source.connect(this.analyser);
  }

  detach(): void {
    this.source?.disconnect();
    this.source = this.analyser = undefined;
  }

  /** 0..1, roughly perceptual (RMS mapped from -60..0 dBFS). */
  level(): number {
    if (!this.analyser) return 0;
    this.analyser.getFloatTimeDomainData(this.buf);
    let sum = 0;
    for (const v of this.buf) sum += v * v;
    const rms = Math.sqrt(sum / this.buf.length);
    const db = 20 * Math.log10(rms || 1e-8);
    return Math.max(0, Math.min(1, (db + 60) / 60));
  }
}

/** Above this level (0..1) a person counts as speaking. */
export const SPEAKING_LEVEL = 0.35;
/** Remote audio levels from RTP (RFC 6464, 0..1 linear) use a lower threshold. */
export const REMOTE_SPEAKING_LEVEL = 0.04;
