/** Camera / microphone / speaker pickers, used before joining and in the call's settings. */
import { h } from "../dom.js";
import { canPickSpeaker, listDevices, type DeviceChoice } from "../media.js";

export interface DevicePickerEvents {
  camera(deviceId: string): void;
  microphone(deviceId: string): void;
  speaker(deviceId: string): void;
}

export class DevicePickers {
  readonly el: HTMLElement;
  private cam = h("select", { id: "pick-camera", name: "camera" });
  private mic = h("select", { id: "pick-microphone", name: "microphone" });
  private spk = h("select", { id: "pick-speaker", name: "speaker" });
  private seq = 0;

  constructor(on: DevicePickerEvents, private readonly idPrefix = "") {
    for (const [sel, id] of [[this.cam, "camera"], [this.mic, "microphone"], [this.spk, "speaker"]] as const) sel.id = `${idPrefix}pick-${id}`;
    this.cam.addEventListener("change", () => on.camera(this.cam.value));
    this.mic.addEventListener("change", () => on.microphone(this.mic.value));
    this.spk.addEventListener("change", () => on.speaker(this.spk.value));
    this.el = h(
      "div",
      { class: "pickers" },
      field(`${idPrefix}pick-camera`, "Camera", this.cam),
      field(`${idPrefix}pick-microphone`, "Microphone", this.mic),
      canPickSpeaker ? field(`${idPrefix}pick-speaker`, "Speaker", this.spk) : null,
    );
    navigator.mediaDevices?.addEventListener?.("devicechange", () => void this.refresh());
  }

  /** Fills the lists; labels are only known after permission, hence called again after getUserMedia. */
  async refresh(current: DeviceChoice & { cameraTrack?: MediaStreamTrack; micTrack?: MediaStreamTrack } = {}): Promise<void> {
    const n = ++this.seq;
    const d = await listDevices();
    if (n !== this.seq) return;
    fill(this.cam, d.cameras, current.cameraTrack?.getSettings().deviceId ?? current.camera, "No camera found");
    fill(this.mic, d.microphones, current.micTrack?.getSettings().deviceId ?? current.microphone, "No microphone found");
    fill(this.spk, d.speakers, current.speaker, "Default speaker");
  }
}

function field(id: string, label: string, control: HTMLElement): HTMLElement {
  return h("div", { class: "field" }, h("label", { for: id }, label), control);
}

function fill(sel: HTMLSelectElement, devices: MediaDeviceInfo[], selected: string | undefined, empty: string): void {
  const keep = selected ?? sel.value;
  sel.replaceChildren();
  const real = devices.filter((d) => d.deviceId);
  if (real.length === 0) {
    sel.append(h("option", { value: "" }, empty));
    sel.disabled = true;
    return;
  }
  sel.disabled = false;
  real.forEach((d, i) => sel.append(h("option", { value: d.deviceId }, d.label || `${sel.name} ${i + 1}`)));
  if (keep && real.some((d) => d.deviceId === keep)) sel.value = keep;
}
