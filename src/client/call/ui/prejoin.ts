/**
 * The pre-join screen: camera preview, microphone meter, device pickers, the
 * guest's name, and the connection check in plain words.
 */
import type { Boot } from "../boot.js";
import { checkStun, checkTurn, probeWebSocket, type CheckStatus } from "../check.js";
import { announce, h, icon } from "../dom.js";
import { LevelMeter } from "../levels.js";
import type { LocalMedia, MediaProblem } from "../media.js";
import { DevicePickers } from "./devices.js";

export interface JoinRequest {
  name?: string;
  /** What the check found: start on long-poll right away when WebSockets do not get through. */
  websocketOk: boolean | undefined;
  speaker?: string;
}

interface Row {
  el: HTMLElement;
  dot: HTMLElement;
  text: HTMLElement;
}

export class PrejoinView {
  readonly el: HTMLElement;
  onJoin?: (req: JoinRequest) => Promise<void>;
  private video = h("video", { autoplay: true, playsinline: true, muted: true, class: "mirror", "aria-label": "Your camera preview" });
  private problemBox = h("div", { class: "media-problem", role: "alert", hidden: true });
  private meterBar = h("div", { class: "meter-bar" });
  private meter = new LevelMeter();
  private pickers: DevicePickers;
  private nameInput?: HTMLInputElement;
  private joinBtn = h("button", { type: "submit", class: "btn primary big", id: "join-btn" }, "Join now");
  private formError = h("p", { class: "form-error", role: "alert", hidden: true });
  private rows: Record<"media" | "ws" | "stun" | "turn", Row>;
  private websocketOk: boolean | undefined;
  private raf = 0;
  private speaker?: string;
  private camBtn = h("button", { type: "button", class: "round", id: "pre-cam" });
  private micBtn = h("button", { type: "button", class: "round", id: "pre-mic" });

  constructor(
    private readonly boot: Boot,
    private readonly media: LocalMedia,
    private readonly opts: { origin: string; token?: string; guest: boolean; defaultName?: string },
  ) {
    this.pickers = new DevicePickers({
      camera: (id) => void this.media.switchDevice("video", id).then(() => this.afterMedia()),
      microphone: (id) => void this.media.switchDevice("audio", id).then(() => this.afterMedia()),
      speaker: (id) => (this.speaker = id),
    });
    this.rows = {
      media: row("Camera and microphone"),
      ws: row("Connection to the call service"),
      stun: row("Direct connection"),
      turn: row("Relay for strict networks"),
    };
    this.camBtn.addEventListener("click", () => void this.toggleCamera());
    this.micBtn.addEventListener("click", () => this.toggleMic());

    const form = h("form", { class: "join-form", novalidate: true });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.submit();
    });
    if (opts.guest) {
      this.nameInput = h("input", { id: "guest-name", name: "name", autocomplete: "name", maxlength: 80, required: true, value: opts.defaultName ?? "" });
      form.append(h("div", { class: "field" }, h("label", { for: "guest-name" }, "Your name"), this.nameInput, h("p", { class: "hint" }, "Shown to the others in the call.")));
    }
    form.append(this.formError, this.joinBtn);

    const title = boot.room.title ?? "Video call";
    this.el = h(
      "main",
      { class: "prejoin", "aria-labelledby": "prejoin-title" },
      h(
        "section",
        { class: "preview-col" },
        h(
          "div",
          { class: "preview" },
          this.video,
          this.problemBox,
          h("div", { class: "preview-controls" }, this.micBtn, this.camBtn),
          h("div", { class: "meter", role: "meter", "aria-label": "Microphone level", "aria-valuemin": 0, "aria-valuemax": 100 }, this.meterBar),
        ),
        this.pickers.el,
      ),
      h(
        "section",
        { class: "join-col" },
        h("p", { class: "org" }, boot.orgName),
        h("h1", { id: "prejoin-title" }, title),
        h("p", { class: "lead" }, opts.guest ? "Check your camera and microphone, enter your name, then join." : "Check your camera and microphone, then join when you are ready."),
        form,
        h(
          "section",
          { class: "checks", "aria-labelledby": "checks-title" },
          h("h2", { id: "checks-title" }, "Connection check"),
          h("ul", {}, ...Object.values(this.rows).map((r) => r.el)),
        ),
      ),
    );
    this.renderToggles();
  }

  async start(): Promise<void> {
    this.set("media", "pending", "Asking your browser for the camera and microphone…");
    this.set("ws", "pending", "Checking…");
    this.set("stun", "pending", "Checking…");
    this.set("turn", "pending", "Checking…");
    void this.runNetworkChecks();
    await this.media.open();
    this.afterMedia();
    this.tickMeter();
  }

  stop(): void {
    cancelAnimationFrame(this.raf);
    this.meter.detach();
    this.video.srcObject = null;
  }

  private afterMedia(): void {
    const m = this.media;
    this.video.srcObject = m.videoTrack ? m.stream : null;
    this.video.hidden = !m.videoTrack;
    this.meter.attach(m.audioTrack);
    void this.pickers.refresh({ ...m.choice, cameraTrack: m.videoTrack, micTrack: m.audioTrack });
    const problems = [m.videoProblem, m.audioProblem].filter((p, i, a): p is MediaProblem => !!p && a.indexOf(p) === i);
    this.problemBox.replaceChildren();
    this.problemBox.hidden = problems.length === 0 && !!m.videoTrack;
    if (problems.length) {
      for (const p of problems) this.problemBox.append(h("h2", {}, p.title), h("p", {}, p.advice));
      const retry = h("button", { type: "button", class: "btn" }, "Try again");
      retry.addEventListener("click", () => void this.media.open().then(() => this.afterMedia()));
      this.problemBox.append(retry);
    } else if (!m.videoTrack) {
      this.problemBox.append(h("p", {}, m.cameraOff ? "Your camera is off." : "No camera picture."));
    }
    if (m.audioTrack && m.videoTrack) this.set("media", "ok", "Camera and microphone are working.");
    else if (m.audioTrack) this.set("media", "warn", m.cameraOff ? "Microphone is working; your camera is off." : `Microphone is working. ${m.videoProblem?.title ?? "No camera"}: others will hear you but not see you.`);
    else if (m.videoTrack) this.set("media", "warn", `Camera is working. ${m.audioProblem?.title ?? "No microphone"}: others will not hear you — you can use the chat.`);
    else this.set("media", "fail", `${problems[0]?.title ?? "No camera or microphone"}. You can still join to listen and chat.`);
    this.renderToggles();
  }

  private async toggleCamera(): Promise<void> {
    await this.media.setCamera(this.media.cameraOff);
    this.afterMedia();
  }

  private toggleMic(): void {
    this.media.setMic(this.media.micMuted);
    this.renderToggles();
  }

  private renderToggles(): void {
    const m = this.media;
    setToggle(this.micBtn, m.micMuted ? "micOff" : "mic", m.micMuted ? "Turn microphone on" : "Turn microphone off", m.micMuted);
    setToggle(this.camBtn, m.cameraOff ? "camOff" : "cam", m.cameraOff ? "Turn camera on" : "Turn camera off", m.cameraOff);
    this.micBtn.disabled = !m.audioTrack && !m.micMuted;
  }

  private tickMeter(): void {
    const level = this.media.micMuted ? 0 : this.meter.level();
    this.meterBar.style.transform = `scaleX(${level.toFixed(3)})`;
    this.raf = requestAnimationFrame(() => this.tickMeter());
  }

  private async runNetworkChecks(): Promise<void> {
    const origin = this.opts.origin;
    const ws = probeWebSocket(origin).then((ok) => {
      this.websocketOk = ok;
      this.set(
        "ws",
        ok ? "ok" : "warn",
        ok ? "Fast connection to the call service works." : "Your network blocks the fast connection (WebSocket). The call will use a slower backup that still works.",
      );
    });
    const stun = checkStun(this.boot.stunUrls).then((ok) => {
      if (ok === undefined) this.set("stun", "skip", "Not set up on this server; the call uses your local network or the relay.");
      else
        this.set(
          "stun",
          ok ? "ok" : "warn",
          ok ? "Your network allows direct connections." : "Direct connections seem blocked here; the call will go through the relay.",
        );
    });
    const turn = checkTurn(origin, this.opts.token).then((r) => {
      const text: Record<typeof r, [CheckStatus, string]> = {
        ok: ["ok", "The relay answers: the call can work even on strict networks."],
        fail: ["fail", "The relay could not be reached. If the call cannot connect, ask your IT team to allow UDP port 3478, or try another network (for example mobile data)."],
        off: ["skip", "This server has no relay; calls on the same network still work."],
        later: ["skip", "Checked once you are let into the call."],
        error: ["warn", "Could not check the relay right now."],
      };
      this.set("turn", ...text[r]);
    });
    await Promise.all([ws, stun, turn]);
  }

  private set(id: keyof PrejoinView["rows"], status: CheckStatus, text: string): void {
    const r = this.rows[id];
    r.el.dataset.status = status;
    r.dot.setAttribute("aria-label", { pending: "checking", ok: "good", warn: "warning", fail: "problem", skip: "not checked" }[status]);
    r.text.textContent = text;
  }

  private async submit(): Promise<void> {
    this.formError.hidden = true;
    let name: string | undefined;
    if (this.nameInput) {
      name = this.nameInput.value.trim();
      if (!name) {
        this.showError("Please enter your name so the others know who you are.");
        this.nameInput.focus();
        return;
      }
    }
    this.joinBtn.disabled = true;
    this.joinBtn.textContent = "Joining…";
    try {
      await this.onJoin?.({ name, websocketOk: this.websocketOk, speaker: this.speaker });
    } catch (err) {
      this.showError(err instanceof Error ? err.message : String(err));
      this.joinBtn.disabled = false;
      this.joinBtn.textContent = "Join now";
    }
  }

  private showError(text: string): void {
    this.formError.textContent = text;
    this.formError.hidden = false;
    announce(text);
  }
}

function row(label: string): Row {
  const dot = h("span", { class: "dot", role: "img" });
  const text = h("span", { class: "check-text" });
  return { el: h("li", { class: "check", "data-status": "pending" }, dot, h("span", { class: "check-body" }, h("strong", {}, label), text)), dot, text };
}

export function setToggle(btn: HTMLButtonElement, iconName: string, label: string, pressed: boolean): void {
  btn.replaceChildren(icon(iconName));
  btn.setAttribute("aria-label", label);
  btn.title = label;
  // The label says what pressing does, so no aria-pressed on top (it would contradict the label).
  btn.classList.toggle("off", pressed);
}
