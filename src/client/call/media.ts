/**
 * The local camera and microphone: opening them with the chosen devices,
 * switching devices, and turning browser errors into words a patient can act on.
 */
export interface DeviceChoice {
  camera?: string;
  microphone?: string;
  speaker?: string;
}

export interface MediaProblem {
  kind: "blocked" | "missing" | "busy" | "insecure" | "unsupported" | "other";
  title: string;
  advice: string;
}

const VIDEO: MediaTrackConstraints = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30, max: 30 } };
const AUDIO: MediaTrackConstraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

export class LocalMedia {
  /** One stream for camera + microphone: the other side finds both tracks in one MediaStream. */
  readonly stream = new MediaStream();
  choice: DeviceChoice = {};
  audioProblem?: MediaProblem;
  videoProblem?: MediaProblem;
  micMuted = false;
  cameraOff = false;

  get audioTrack(): MediaStreamTrack | undefined {
    return this.stream.getAudioTracks()[0];
  }
  get videoTrack(): MediaStreamTrack | undefined {
    return this.stream.getVideoTracks()[0];
  }

  /**
   * Opens camera and microphone. Tries both at once (one permission prompt),
   * then each alone, so a missing camera still leaves a working microphone.
   */
  async open(): Promise<void> {
    this.audioProblem = this.videoProblem = undefined;
    if (!navigator.mediaDevices?.getUserMedia) {
      const p = window.isSecureContext ? unsupported() : insecure();
      this.audioProblem = this.videoProblem = p;
      return;
    }
    try {
      const s = await navigator.mediaDevices.getUserMedia({ audio: this.audioConstraints(), video: this.videoConstraints() });
      this.adopt(s);
      return;
    } catch (err) {
      const p = explain(err);
      if (p.kind === "blocked" || p.kind === "insecure") {
        this.audioProblem = this.videoProblem = p;
        return;
      }
    }
    await Promise.all([this.openKind("audio"), this.openKind("video")]);
  }

  async openKind(kind: "audio" | "video"): Promise<MediaStreamTrack | undefined> {
    try {
      const s = await navigator.mediaDevices.getUserMedia(kind === "audio" ? { audio: this.audioConstraints() } : { video: this.videoConstraints() });
      const t = kind === "audio" ? s.getAudioTracks()[0] : s.getVideoTracks()[0];
      if (t) this.replace(kind, t);
      if (kind === "audio") this.audioProblem = undefined;
      else this.videoProblem = undefined;
      return t;
    } catch (err) {
      const p = explain(err, kind);
      if (kind === "audio") this.audioProblem = p;
      else this.videoProblem = p;
      return undefined;
    }
  }

  /** Switches to another camera or microphone; returns the new track for the senders. */
  async switchDevice(kind: "audio" | "video", deviceId: string): Promise<MediaStreamTrack | undefined> {
    if (kind === "audio") this.choice.microphone = deviceId;
    else this.choice.camera = deviceId;
    if (kind === "video" && this.cameraOff) return undefined;
    return this.openKind(kind);
  }

  /** Camera off releases the device (the light goes out); on opens it again. */
  async setCamera(on: boolean): Promise<MediaStreamTrack | undefined> {
    this.cameraOff = !on;
    if (!on) {
      const t = this.videoTrack;
      if (t) {
        t.stop();
        this.stream.removeTrack(t);
      }
      return undefined;
    }
    return this.openKind("video");
  }

  setMic(on: boolean): void {
    this.micMuted = !on;
    const t = this.audioTrack;
    if (t) t.enabled = on;
  }

  stopAll(): void {
    for (const t of this.stream.getTracks()) {
      t.stop();
      this.stream.removeTrack(t);
    }
  }

  private adopt(s: MediaStream): void {
    for (const t of s.getTracks()) this.replace(t.kind as "audio" | "video", t);
  }

  private replace(kind: "audio" | "video", track: MediaStreamTrack): void {
    for (const old of kind === "audio" ? this.stream.getAudioTracks() : this.stream.getVideoTracks()) {
      if (old === track) continue;
      old.stop();
      this.stream.removeTrack(old);
    }
    if (kind === "audio") track.enabled = !this.micMuted;
    this.stream.addTrack(track);
  }

  private audioConstraints(): MediaTrackConstraints {
    return this.choice.microphone ? { ...AUDIO, deviceId: { exact: this.choice.microphone } } : AUDIO;
  }
  private videoConstraints(): MediaTrackConstraints {
    return this.choice.camera ? { ...VIDEO, deviceId: { exact: this.choice.camera } } : VIDEO;
  }
}

export async function listDevices(): Promise<{ cameras: MediaDeviceInfo[]; microphones: MediaDeviceInfo[]; speakers: MediaDeviceInfo[] }> {
  const all = navigator.mediaDevices?.enumerateDevices ? await navigator.mediaDevices.enumerateDevices() : [];
  return {
    cameras: all.filter((d) => d.kind === "videoinput"),
    microphones: all.filter((d) => d.kind === "audioinput"),
    speakers: all.filter((d) => d.kind === "audiooutput"),
  };
}

/** Browsers where audio output can be chosen (Chromium, Firefox with a pref). */
export const canPickSpeaker = typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;

function explain(err: unknown, kind?: "audio" | "video"): MediaProblem {
  const name = (err as { name?: string })?.name ?? "";
  const what = kind === "audio" ? "microphone" : kind === "video" ? "camera" : "camera and microphone";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return {
        kind: "blocked",
        title: `Your ${what} ${kind ? "is" : "are"} blocked`,
        advice: `Your browser was told not to share your ${what} with this page. Click the camera or lock icon at the left of the address bar, choose Allow for camera and microphone, then press “Try again”. On a phone, check Settings → your browser → Camera and Microphone.`,
      };
    case "NotFoundError":
    case "OverconstrainedError":
      return {
        kind: "missing",
        title: `No ${what} found`,
        advice: `We could not find a ${what}. If you use an external one, plug it in and press “Try again”. You can still join: others will ${kind === "video" ? "hear you but not see you" : kind === "audio" ? "see you but not hear you — use the chat" : "see the chat only"}.`,
      };
    case "NotReadableError":
    case "AbortError":
      return {
        kind: "busy",
        title: `Your ${what} is in use`,
        advice: `Another app (another video call, or another browser tab) is using your ${what}. Close it, then press “Try again”. Restarting the browser also helps.`,
      };
    default:
      return { kind: "other", title: `The ${what} could not start`, advice: `Your browser said: ${String((err as Error)?.message ?? err)}. Press “Try again”, or reload the page.` };
  }
}

function insecure(): MediaProblem {
  return {
    kind: "insecure",
    title: "This page is not secure",
    advice: "Browsers only share cameras with secure (https) pages. Ask the person who sent the link for an https link.",
  };
}

function unsupported(): MediaProblem {
  return {
    kind: "unsupported",
    title: "This browser cannot make video calls",
    advice: "Open the link in a current version of Chrome, Edge, Firefox or Safari.",
  };
}
