import type { CallApi } from "../call/extensions.js";
import { h } from "../call/dom.js";
import { createRecorder, RecordingRefused, resumeUploads, type Recorder } from "./recorder.js";
import type { UploadProgress } from "./uploader.js";
import "./recording.css";

/** What end-to-end tests and support can read: `window.__parleyRecording`. */
export interface RecordingState {
  consent: boolean | null;
  active: boolean;
  by: string | null;
  recordingId: string | null;
  progress: UploadProgress | null;
  lastError: string | null;
  resumed: number;
  /** While recording the composite: the participants drawn and heard in it. */
  included: string[] | null;
}

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

/**
 * The call page's recording controls: the consent question (when the room
 * requires consent), a Record button (hosts record the composite of the
 * call, others their own view), the REC indicator everyone sees, and the
 * upload progress. On mount it also finishes uploads a reload interrupted.
 */
export function recordingExtension(api: CallApi): void {
  const state: RecordingState = { consent: null, active: api.room.recording.active, by: null, recordingId: null, progress: null, lastError: null, resumed: 0, included: null };
  (window as unknown as { __parleyRecording: RecordingState }).__parleyRecording = state;

  const progressEl = h("span", { class: "rec-progress", id: "rec-progress", "aria-live": "polite" });
  const onProgress = (p: UploadProgress) => {
    state.progress = p;
    progressEl.textContent =
      p.state === "failed"
        ? `Upload stopped: ${p.error ?? "refused"}`
        : p.state === "done"
          ? `Recording saved (${mb(p.uploadedBytes)})`
          : p.pending > 0
            ? `Uploading… ${p.pending} part(s) left, ${mb(p.uploadedBytes)} sent`
            : p.state === "recording"
              ? `${mb(p.uploadedBytes)} uploaded`
              : "";
  };
  api.indicators.append(progressEl);
  void resumeUploads(api.roomId, api.token, onProgress).then((n) => {
    state.resumed = n;
    if (n) api.toast(`Finishing the upload of ${n} recording(s) interrupted earlier.`);
  });

  if (!api.room.recording.enabled) return;

  const badge = h("span", { class: "rec-badge", id: "rec-indicator", role: "status", hidden: "" }, "● REC");
  api.indicators.prepend(badge);
  const showActive = (active: boolean, by: string | null) => {
    state.active = active;
    state.by = by;
    badge.hidden = !active;
    badge.title = active ? "This call is being recorded" : "";
  };
  showActive(api.room.recording.active, null);
  api.onFrame("recording", (f) => {
    const d = f.data as { active: boolean; by: string | null };
    showActive(d.active, d.by);
    if (d.active && state.consent === null && api.room.recording.requireConsent) askConsent();
  });

  // Consent: asked once on arrival (and again by a recording starting); the answer can be changed.
  const consentBtn = h("button", { type: "button", class: "btn small", id: "rec-consent-toggle" });
  const setConsent = (granted: boolean) => {
    state.consent = granted;
    api.send("recording-consent", { granted });
    consentBtn.textContent = granted ? "Recording: allowed" : "Recording: not allowed";
    consentBtn.setAttribute("aria-pressed", String(granted));
  };
  consentBtn.onclick = () => setConsent(!state.consent);
  let dialog: HTMLElement | undefined;
  const askConsent = () => {
    if (dialog) return;
    const yes = h("button", { type: "button", class: "btn primary", id: "rec-consent-yes" }, "Allow recording");
    const no = h("button", { type: "button", class: "btn", id: "rec-consent-no" }, "Don't allow");
    dialog = h(
      "div",
      { class: "rec-consent", id: "rec-consent", role: "dialog", "aria-labelledby": "rec-consent-title" },
      h("p", { id: "rec-consent-title" }, state.active ? "This call is being recorded. May your audio and video be included?" : "This call may be recorded. Do you agree to be recorded?"),
      yes,
      no,
    );
    const answer = (g: boolean) => {
      setConsent(g);
      dialog?.remove();
      dialog = undefined;
    };
    yes.onclick = () => answer(true);
    no.onclick = () => answer(false);
    document.body.append(dialog);
    yes.focus();
  };
  if (api.room.recording.requireConsent) {
    api.addControl(consentBtn);
    consentBtn.textContent = "Recording: not answered";
    askConsent();
  }

  const recordBtn = h("button", { type: "button", class: "btn", id: "rec-toggle" }, "Record");
  let recorder: Recorder | undefined;
  let busy = false;
  recordBtn.onclick = async () => {
    if (busy) return;
    busy = true;
    try {
      if (recorder) {
        const r = recorder;
        recorder = undefined;
        state.included = null;
        recordBtn.textContent = "Record";
        await r.stop();
        return;
      }
      // The person recording consents by recording.
      if (api.room.recording.requireConsent && state.consent !== true) {
        setConsent(true);
        // The answer travels over signaling; give it a moment to land before the server checks it.
        await new Promise((r) => setTimeout(r, 300));
      }
      recordBtn.textContent = "Starting…";
      recorder = await createRecorder({
        origin: api.origin,
        token: api.token,
        roomId: api.roomId,
        selfId: api.selfId,
        mode: api.isHost ? "composite" : "self",
        localStream: () => api.localStream(),
        getTiles: () => new Map([[api.selfId, api.localStream()], ...api.remoteStreams()]),
        onProgress,
        onIncluded: (ids) => (state.included = ids),
      });
      state.recordingId = recorder.recordingId;
      state.lastError = null;
      recordBtn.textContent = "Stop recording";
    } catch (err) {
      recordBtn.textContent = "Record";
      const msg =
        err instanceof RecordingRefused && err.code === "consent_required"
          ? `Not everyone has agreed to be recorded yet: ${err.missing.map((m) => m.name ?? m.participantId).join(", ")}.`
          : (err as Error).message;
      state.lastError = msg;
      api.toast(msg);
    } finally {
      busy = false;
    }
  };
  api.addControl(recordBtn);
  api.onLeave(async () => {
    dialog?.remove();
    if (recorder) await recorder.stop();
  });
}
