/**
 * The host's composite: every tile drawn into one canvas, every voice mixed
 * with Web Audio. Only participants who consented are drawn and heard; the
 * list is refreshed while recording, so someone who joins later appears
 * once they said yes.
 */
export interface CompositeSource {
  stream(): MediaStream;
  stop(): void;
  setIncluded(ids: Set<string>): void;
}

const WIDTH = 640;
const HEIGHT = 360;
// Small on purpose: the host encodes this in software beside a live call (two cores are common in clinics).
const FPS = 15;

export function createComposite(tiles: () => Map<string, MediaStream>, audio: AudioContext): CompositeSource {
  const canvas = document.createElement("canvas");
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  const g = canvas.getContext("2d")!;
  const mixed = audio.createMediaStreamDestination();
  const videos = new Map<string, HTMLVideoElement>();
  const voices = new Map<string, { src: MediaStreamAudioSourceNode; stream: MediaStream }>();
  let included = new Set<string>();

  const sync = () => {
    const current = tiles();
    for (const [id, stream] of current) {
      const use = included.has(id);
      let v = videos.get(id);
      if (use && (!v || v.srcObject !== stream)) {
        v ??= Object.assign(document.createElement("video"), { muted: true, playsInline: true, autoplay: true });
        v.srcObject = stream;
        void v.play().catch(() => {});
        videos.set(id, v);
      }
      if (!use && v) {
        v.srcObject = null;
        videos.delete(id);
      }
      const voice = voices.get(id);
      const hasAudio = stream.getAudioTracks().length > 0;
      if (use && hasAudio && (!voice || voice.stream !== stream)) {
        voice?.src.disconnect();
        const src = audio.createMediaStreamSource(stream);
        src.connect(mixed);
        voices.set(id, { src, stream });
      }
      if ((!use || !hasAudio) && voice) {
        voice.src.disconnect();
        voices.delete(id);
      }
    }
    for (const id of [...videos.keys()]) if (!current.has(id)) videos.delete(id);
    for (const [id, v] of voices) if (!current.has(id)) (v.src.disconnect(), voices.delete(id));
  };

  const draw = () => {
    sync();
    g.fillStyle = "#111";
    g.fillRect(0, 0, WIDTH, HEIGHT);
    const list = [...videos.values()];
    const n = Math.max(1, list.length);
    const cols = Math.ceil(Math.sqrt(n));
    const rows = Math.ceil(n / cols);
    const w = WIDTH / cols;
    const h = HEIGHT / rows;
    list.forEach((v, i) => {
      if (v.readyState < 2) return;
      const x = (i % cols) * w;
      const y = Math.floor(i / cols) * h;
      // Letterbox each tile so faces are not stretched.
      const scale = Math.min(w / (v.videoWidth || w), h / (v.videoHeight || h));
      const dw = (v.videoWidth || w) * scale;
      const dh = (v.videoHeight || h) * scale;
      g.drawImage(v, x + (w - dw) / 2, y + (h - dh) / 2, dw, dh);
    });
  };
  // A timer, not requestAnimationFrame: rAF stops in a background tab and the recording would freeze.
  const timer = setInterval(draw, 1000 / FPS);
  draw();
  const out = new MediaStream([...canvas.captureStream(FPS).getVideoTracks(), ...mixed.stream.getAudioTracks()]);
  return {
    stream: () => out,
    setIncluded(ids) {
      included = ids;
    },
    stop() {
      clearInterval(timer);
      for (const t of out.getVideoTracks()) t.stop();
      for (const v of voices.values()) v.src.disconnect();
      for (const v of videos.values()) v.srcObject = null;
    },
  };
}
