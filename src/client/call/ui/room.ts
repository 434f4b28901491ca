/**
 * The in-call screen: adaptive grid of tiles, the controls bar, chat,
 * participant list (with host actions and the lobby), settings, banners.
 */
import type { MediaState } from "../../../signaling/protocol.js";
import { announce, h, icon } from "../dom.js";
import type { RemoteMedia } from "../mesh.js";
import type { PeerQuality, QualityLevel } from "../quality.js";
import { DevicePickers } from "./devices.js";
import { setToggle } from "./prejoin.js";

export interface RoomActions {
  toggleMic(): void;
  toggleCamera(): void;
  toggleScreen(): void;
  toggleHand(): void;
  sendChat(text: string): void;
  leave(): void;
  endForAll(): void;
  mutePeer(id: string): void;
  removePeer(id: string): void;
  admit(id: string): void;
  deny(id: string): void;
  switchDevice(kind: "audio" | "video", deviceId: string): void;
  setSpeaker(deviceId: string): void;
}

export interface PeerView {
  id: string;
  name: string;
  role: string;
  roleLabel?: string;
  media: MediaState;
  hand: boolean;
}

interface Tile {
  el: HTMLElement;
  video: HTMLVideoElement;
  avatar: HTMLElement;
  name: HTMLElement;
  micOff: HTMLElement;
  hand: HTMLElement;
  quality: HTMLElement;
  stream?: MediaStream;
}

export interface ControlState {
  micMuted: boolean;
  cameraOff: boolean;
  sharing: boolean;
  hand: boolean;
  hasMic: boolean;
  hasCamera: boolean;
}

const canShareScreen = typeof navigator !== "undefined" && !!navigator.mediaDevices && "getDisplayMedia" in navigator.mediaDevices;

export class RoomView {
  readonly el: HTMLElement;
  /** The controls bar; other modules (recording) add their buttons with `addControl`. */
  readonly controls: HTMLElement;
  /** Header area for indicators (recording, connection). */
  readonly indicators: HTMLElement;
  onFirstFrame?: (peerId: string) => void;

  private stage = h("div", { class: "stage", "aria-label": "Participants' videos", role: "region" });
  private tiles = new Map<string, Tile>();
  private peers = new Map<string, PeerView>();
  private banner = h("div", { class: "banner", role: "status", hidden: true });
  private lobbyBar = h("div", { class: "lobby-bar", role: "region", "aria-label": "People waiting to join", hidden: true });
  private toasts = h("div", { class: "toasts", "aria-live": "polite" });
  private panel = h("aside", { class: "panel", hidden: true, "aria-labelledby": "panel-title" });
  private panelTitle = h("h2", { id: "panel-title" });
  private panelBody = h("div", { class: "panel-body" });
  private chatList = h("ol", { class: "chat-list", "aria-label": "Chat messages" });
  private chatInput = h("input", { id: "chat-input", name: "message", autocomplete: "off", maxlength: 2000, placeholder: "Message everyone" });
  private peopleList = h("ul", { class: "people-list" });
  private lobbyList = h("ul", { class: "people-list" });
  private pickers: DevicePickers;
  private panelKind?: "chat" | "people" | "settings";
  private unread = 0;
  private btn: Record<"mic" | "cam" | "screen" | "hand" | "chat" | "people" | "settings" | "leave", HTMLButtonElement>;
  private chatBadge = h("span", { class: "badge", hidden: true });
  private peopleBadge = h("span", { class: "badge" });
  private lobby: { id: string; name: string }[] = [];
  private count = h("span", { class: "count" });
  private leaveDialog?: HTMLDialogElement;
  private speaker?: string;
  private resize = new ResizeObserver(() => this.layout());

  constructor(
    private readonly actions: RoomActions,
    private readonly opts: { title: string; selfId: string; selfName: string; isHost: boolean; localStream: MediaStream },
  ) {
    const mk = (id: string, cls = "round") => h("button", { type: "button", class: cls, id: `ctl-${id}` });
    this.btn = {
      mic: mk("mic"),
      cam: mk("cam"),
      screen: mk("screen"),
      hand: mk("hand"),
      chat: mk("chat"),
      people: mk("people"),
      settings: mk("settings"),
      leave: mk("leave", "round danger"),
    };
    this.btn.mic.addEventListener("click", () => actions.toggleMic());
    this.btn.cam.addEventListener("click", () => actions.toggleCamera());
    this.btn.screen.addEventListener("click", () => actions.toggleScreen());
    this.btn.hand.addEventListener("click", () => actions.toggleHand());
    this.btn.chat.addEventListener("click", () => this.togglePanel("chat"));
    this.btn.people.addEventListener("click", () => this.togglePanel("people"));
    this.btn.settings.addEventListener("click", () => this.togglePanel("settings"));
    this.btn.leave.addEventListener("click", () => (opts.isHost ? this.askLeave() : actions.leave()));
    setToggle(this.btn.chat, "chat", "Chat", false);
    this.btn.chat.append(this.chatBadge);
    setToggle(this.btn.people, "people", "Participants", false);
    this.btn.people.append(this.peopleBadge);
    setToggle(this.btn.settings, "settings", "Settings", false);
    setToggle(this.btn.leave, "leave", opts.isHost ? "Leave or end the call" : "Leave the call", false);
    this.btn.screen.hidden = !canShareScreen;

    this.pickers = new DevicePickers(
      {
        camera: (id) => actions.switchDevice("video", id),
        microphone: (id) => actions.switchDevice("audio", id),
        speaker: (id) => {
          this.speaker = id;
          actions.setSpeaker(id);
          for (const t of this.tiles.values()) void setSink(t.video, id);
        },
      },
      "call-",
    );

    this.controls = h(
      "nav",
      { class: "controls", "aria-label": "Call controls" },
      h("div", { class: "group" }, this.btn.mic, this.btn.cam, this.btn.screen, this.btn.hand),
      h("div", { class: "group" }, this.btn.chat, this.btn.people, this.btn.settings),
      h("div", { class: "group" }, this.btn.leave),
    );
    this.indicators = h("div", { class: "indicators" });

    const chatForm = h("form", { class: "chat-form" }, h("label", { for: "chat-input", class: "sr-only" }, "Message"), this.chatInput, h("button", { type: "submit", class: "btn icon-btn", "aria-label": "Send message" }, icon("send")));
    chatForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = this.chatInput.value.trim();
      if (!text) return;
      actions.sendChat(text);
      this.chatInput.value = "";
    });
    this.chatSection = h("section", { class: "chat" }, this.chatList, chatForm);
    this.peopleSection = h("section", { class: "people" }, h("h3", { class: "lobby-title", hidden: true }, "Waiting to join"), this.lobbyList, h("h3", {}, "In the call"), this.peopleList);
    if (opts.isHost) {
      const end = h("button", { type: "button", class: "btn danger", id: "end-all" }, "End call for everyone");
      end.addEventListener("click", () => this.askLeave());
      this.peopleSection.append(end);
    }
    this.settingsSection = h("section", { class: "settings" }, this.pickers.el);

    const closePanel = h("button", { type: "button", class: "btn icon-btn", "aria-label": "Close panel" }, icon("close"));
    closePanel.addEventListener("click", () => this.togglePanel(undefined));
    this.panel.append(h("header", {}, this.panelTitle, closePanel), this.panelBody);

    this.el = h(
      "div",
      { class: "room" },
      h("header", { class: "room-head" }, h("h1", {}, opts.title), this.count, this.indicators),
      this.banner,
      this.lobbyBar,
      h("div", { class: "room-body" }, h("main", { class: "stage-wrap", "aria-label": "Call" }, this.stage), this.panel),
      this.controls,
      this.toasts,
    );
    this.el.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.panelKind) this.togglePanel(undefined);
    });
    this.resize.observe(this.stage);

    const self = this.ensureTile("self", `${opts.selfName} (you)`);
    self.el.classList.add("self");
    self.video.muted = true;
    self.video.classList.add("mirror");
    this.setLocalStream(opts.localStream);
    this.renderPeople();
  }

  private chatSection: HTMLElement;
  private peopleSection: HTMLElement;
  private settingsSection: HTMLElement;

  /** Adds a button (or any control) to the bar, before Leave. */
  addControl(el: HTMLElement): void {
    this.controls.children[1]?.append(el);
  }

  refreshDevices(current: { cameraTrack?: MediaStreamTrack; micTrack?: MediaStreamTrack }): void {
    void this.pickers.refresh({ ...current, speaker: this.speaker });
  }

  setControls(s: ControlState): void {
    setToggle(this.btn.mic, s.micMuted || !s.hasMic ? "micOff" : "mic", !s.hasMic ? "No microphone" : s.micMuted ? "Unmute microphone" : "Mute microphone", s.micMuted || !s.hasMic);
    setToggle(this.btn.cam, s.cameraOff || !s.hasCamera ? "camOff" : "cam", s.cameraOff ? "Turn camera on" : !s.hasCamera ? "No camera" : "Turn camera off", s.cameraOff || !s.hasCamera);
    setToggle(this.btn.screen, "screen", s.sharing ? "Stop sharing your screen" : "Share your screen", false);
    this.btn.screen.classList.toggle("active", s.sharing);
    setToggle(this.btn.hand, "hand", s.hand ? "Lower your hand" : "Raise your hand", false);
    this.btn.hand.classList.toggle("active", s.hand);
    this.btn.mic.disabled = !s.hasMic && !s.micMuted;
    const self = this.tiles.get("self");
    if (self) {
      self.micOff.hidden = !s.micMuted && s.hasMic;
      self.hand.hidden = !s.hand;
      this.showVideo(self, !s.cameraOff && s.hasCamera);
    }
  }

  setLocalStream(stream: MediaStream): void {
    const t = this.tiles.get("self")!;
    t.video.srcObject = null;
    t.video.srcObject = stream;
    t.stream = stream;
  }

  upsertPeer(p: PeerView): void {
    const isNew = !this.peers.has(p.id);
    this.peers.set(p.id, p);
    const t = this.ensureTile(p.id, p.name);
    t.name.textContent = p.roleLabel && p.roleLabel !== "participant" ? `${p.name} · ${p.roleLabel}` : p.name;
    t.micOff.hidden = p.media.audio;
    t.hand.hidden = !p.hand;
    this.showVideo(t, p.media.video);
    if (isNew) this.layout();
    this.renderPeople();
  }

  removePeer(id: string): void {
    this.peers.delete(id);
    for (const key of [id, `${id}:screen`]) {
      const t = this.tiles.get(key);
      if (!t) continue;
      t.video.srcObject = null;
      t.el.remove();
      this.tiles.delete(key);
    }
    this.layout();
    this.renderPeople();
  }

  setRemoteMedia(id: string, media: RemoteMedia): void {
    const p = this.peers.get(id);
    const t = this.tiles.get(id);
    if (t && t.stream !== media.camera) {
      t.stream = media.camera;
      t.video.srcObject = media.camera ?? null;
      this.watchFirstFrame(id, t.video);
      if (this.speaker) void setSink(t.video, this.speaker);
    }
    const key = `${id}:screen`;
    let s = this.tiles.get(key);
    if (media.screen) {
      if (!s) {
        s = this.ensureTile(key, `${p?.name ?? "Someone"}’s screen`);
        s.el.classList.add("screen");
        s.video.muted = true;
        s.avatar.hidden = true;
      }
      if (s.stream !== media.screen) {
        s.stream = media.screen;
        s.video.srcObject = media.screen;
      }
      this.showVideo(s, true);
    } else if (s) {
      s.video.srcObject = null;
      s.el.remove();
      this.tiles.delete(key);
    }
    this.layout();
  }

  setLocalScreen(stream: MediaStream | undefined): void {
    const key = "self:screen";
    let s = this.tiles.get(key);
    if (stream) {
      if (!s) {
        s = this.ensureTile(key, "Your screen");
        s.el.classList.add("screen");
        s.video.muted = true;
        s.avatar.hidden = true;
      }
      s.video.srcObject = stream;
      this.showVideo(s, true);
    } else if (s) {
      s.video.srcObject = null;
      s.el.remove();
      this.tiles.delete(key);
    }
    this.layout();
  }

  setSpeaking(ids: Set<string>): void {
    for (const [key, t] of this.tiles) t.el.classList.toggle("speaking", ids.has(key));
  }

  setQuality(id: string, q: PeerQuality | undefined, linkState?: RTCPeerConnectionState): void {
    const t = this.tiles.get(id);
    if (!t) return;
    const level: QualityLevel = linkState && linkState !== "connected" ? (linkState === "failed" || linkState === "disconnected" ? "poor" : "unknown") : (q?.level ?? "unknown");
    t.quality.dataset.level = level;
    const words: Record<QualityLevel, string> = { good: "good", fair: "fair", poor: "poor", unknown: "connecting" };
    const parts = [`Connection ${words[level]}`];
    if (linkState && linkState !== "connected") parts.push(`(${linkState})`);
    if (q?.rttMs !== undefined) parts.push(`${q.rttMs} ms`);
    if (q?.lossPct !== undefined) parts.push(`${q.lossPct}% loss`);
    if (q?.bitrateIn !== undefined) parts.push(`${Math.round(q.bitrateIn / 1000)} kbit/s in`);
    if (q?.relay) parts.push("via relay");
    const label = parts.join(", ");
    t.quality.setAttribute("aria-label", label);
    t.quality.title = label;
  }

  addChat(m: { fromName: string; text: string; self: boolean; at: Date; private?: boolean }): void {
    const time = m.at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    this.chatList.append(
      h(
        "li",
        { class: m.self ? "mine" : "" },
        h("div", { class: "meta" }, h("strong", {}, m.self ? "You" : m.fromName), " ", h("time", { datetime: m.at.toISOString() }, time), m.private ? " · private" : ""),
        h("p", {}, m.text),
      ),
    );
    this.chatList.scrollTop = this.chatList.scrollHeight;
    if (!m.self) {
      if (this.panelKind !== "chat") {
        this.unread++;
        this.chatBadge.textContent = String(this.unread);
        this.chatBadge.hidden = false;
        this.toast(`${m.fromName}: ${m.text.slice(0, 80)}`);
      } else announce(`${m.fromName} says: ${m.text}`);
    }
  }

  setLobby(waiting: { id: string; name: string }[]): void {
    const before = new Set(this.lobby.map((w) => w.id));
    this.lobby = waiting;
    this.lobbyBar.replaceChildren();
    this.lobbyBar.hidden = waiting.length === 0 || !this.opts.isHost;
    for (const w of waiting.slice(0, 3)) this.lobbyBar.append(this.lobbyEntry(w, "div"));
    if (waiting.length > 3) this.lobbyBar.append(h("span", {}, `and ${waiting.length - 3} more — see Participants`));
    for (const w of waiting) if (!before.has(w.id)) announce(`${w.name} is waiting to join`);
    this.renderPeople();
  }

  setBanner(text: string | undefined, tone: "warn" | "info" = "warn"): void {
    this.banner.hidden = !text;
    this.banner.dataset.tone = tone;
    this.banner.textContent = text ?? "";
  }

  toast(text: string): void {
    const t = h("div", { class: "toast" }, text);
    this.toasts.append(t);
    setTimeout(() => t.remove(), 5_000);
    while (this.toasts.children.length > 3) this.toasts.firstChild?.remove();
  }

  destroy(): void {
    this.resize.disconnect();
    for (const t of this.tiles.values()) t.video.srcObject = null;
    this.leaveDialog?.remove();
  }

  // ---------------------------------------------------------------- internals

  private ensureTile(key: string, name: string): Tile {
    const existing = this.tiles.get(key);
    if (existing) return existing;
    const video = h("video", { autoplay: true, playsinline: true });
    const avatar = h("div", { class: "avatar", "aria-hidden": "true" }, initials(name));
    const nameEl = h("span", { class: "name" }, name);
    const micOff = h("span", { class: "state mic-off", role: "img", "aria-label": "Microphone off", hidden: true }, icon("micOff"));
    const hand = h("span", { class: "state hand", role: "img", "aria-label": "Hand raised", hidden: true }, icon("hand"));
    const quality = h("span", { class: "quality", role: "img", "aria-label": "Connection", "data-level": "unknown" }, icon("signal"));
    const el = h("figure", { class: "tile", "data-peer": key }, video, avatar, h("figcaption", {}, micOff, hand, nameEl), key === "self" || key.endsWith(":screen") ? null : quality);
    const t: Tile = { el, video, avatar, name: nameEl, micOff, hand, quality };
    this.tiles.set(key, t);
    this.stage.append(el);
    this.layout();
    return t;
  }

  private showVideo(t: Tile, on: boolean): void {
    t.el.classList.toggle("no-video", !on);
    t.avatar.hidden = on;
  }

  private firstFrameSeen = new Set<string>();
  private watchFirstFrame(id: string, video: HTMLVideoElement): void {
    if (this.firstFrameSeen.has(id)) return;
    const seen = () => {
      if (this.firstFrameSeen.has(id)) return;
      this.firstFrameSeen.add(id);
      this.onFirstFrame?.(id);
    };
    if (typeof video.requestVideoFrameCallback === "function") video.requestVideoFrameCallback(() => seen());
    else (video as HTMLVideoElement).addEventListener("loadeddata", seen, { once: true });
  }

  /** Picks columns × tile size so every tile is as large as the stage allows. */
  private layout(): void {
    const tiles = [...this.tiles.values()];
    const n = tiles.length;
    if (n === 0) return;
    const W = this.stage.clientWidth;
    const H = this.stage.clientHeight;
    if (!W || !H) return;
    const gap = 8;
    const screens = tiles.filter((t) => t.el.classList.contains("screen"));
    this.stage.classList.toggle("has-screen", screens.length > 0);
    let best = { cols: 1, w: 0, aspect: 16 / 9 };
    // With a shared screen, people become a strip; the screen gets the rest (CSS grid areas).
    const count = screens.length ? n - screens.length : n;
    const area = screens.length ? { W: W, H: Math.max(90, H * 0.22) } : { W, H };
    for (const aspect of [16 / 9, 4 / 3, 1, 3 / 4]) {
      for (let cols = 1; cols <= Math.max(1, count); cols++) {
        const rows = Math.ceil(count / cols);
        const w = Math.min((area.W - gap * (cols - 1)) / cols, ((area.H - gap * (rows - 1)) / rows) * aspect);
        // Prefer wide tiles a little: cameras are 16:9.
        const score = w * (w / aspect) * (aspect >= 1 ? 1 : 0.85);
        if (score > best.w * (best.w / best.aspect) * (best.aspect >= 1 ? 1 : 0.85)) best = { cols, w, aspect };
      }
    }
    this.stage.style.setProperty("--cols", String(best.cols));
    this.stage.style.setProperty("--tile-w", `${Math.floor(best.w)}px`);
    this.stage.style.setProperty("--tile-aspect", String(best.aspect));
    this.count.textContent = `${this.peers.size + 1} in call`;
    this.peopleBadge.textContent = String(this.peers.size + 1);
  }

  private togglePanel(kind: "chat" | "people" | "settings" | undefined): void {
    this.panelKind = this.panelKind === kind ? undefined : kind;
    this.panel.hidden = !this.panelKind;
    this.el.classList.toggle("panel-open", !!this.panelKind);
    for (const k of ["chat", "people", "settings"] as const) this.btn[k].classList.toggle("active", this.panelKind === k);
    if (!this.panelKind) {
      this.layout();
      return;
    }
    this.panelTitle.textContent = { chat: "Chat", people: "Participants", settings: "Settings" }[this.panelKind];
    this.panelBody.replaceChildren(this.panelKind === "chat" ? this.chatSection : this.panelKind === "people" ? this.peopleSection : this.settingsSection);
    if (this.panelKind === "chat") {
      this.unread = 0;
      this.chatBadge.hidden = true;
      this.chatInput.focus();
    }
    requestAnimationFrame(() => this.layout());
  }

  private renderPeople(): void {
    this.peopleList.replaceChildren();
    this.peopleList.append(h("li", {}, h("span", { class: "who" }, `${this.opts.selfName} (you)`)));
    for (const p of this.peers.values()) {
      const li = h(
        "li",
        { "data-peer": p.id },
        h("span", { class: "who" }, p.name, p.roleLabel && p.roleLabel !== "participant" ? h("small", {}, ` ${p.roleLabel}`) : null),
        p.hand ? h("span", { class: "state hand", role: "img", "aria-label": "Hand raised" }, icon("hand")) : null,
        !p.media.audio ? h("span", { class: "state mic-off", role: "img", "aria-label": "Microphone off" }, icon("micOff")) : null,
      );
      if (this.opts.isHost) {
        const mute = h("button", { type: "button", class: "btn small", "aria-label": `Ask ${p.name} to mute` }, "Mute");
        mute.disabled = !p.media.audio;
        mute.addEventListener("click", () => this.actions.mutePeer(p.id));
        const remove = h("button", { type: "button", class: "btn small danger", "aria-label": `Remove ${p.name} from the call` }, "Remove");
        remove.addEventListener("click", () => {
          if (confirm(`Remove ${p.name} from the call?`)) this.actions.removePeer(p.id);
        });
        li.append(h("span", { class: "row-actions" }, mute, remove));
      }
      this.peopleList.append(li);
    }
    this.lobbyList.replaceChildren(...(this.opts.isHost ? this.lobby.map((w) => this.lobbyEntry(w, "li")) : []));
    const lt = this.peopleSection?.querySelector(".lobby-title") as HTMLElement | null;
    if (lt) lt.hidden = !this.opts.isHost || this.lobby.length === 0;
  }

  private lobbyEntry(w: { id: string; name: string }, tag: "li" | "div"): HTMLElement {
    const admit = h("button", { type: "button", class: "btn small primary", "data-admit": w.id, "aria-label": `Admit ${w.name}` }, "Admit");
    const deny = h("button", { type: "button", class: "btn small", "data-deny": w.id, "aria-label": `Deny ${w.name}` }, "Deny");
    admit.addEventListener("click", () => this.actions.admit(w.id));
    deny.addEventListener("click", () => this.actions.deny(w.id));
    return h(tag, { class: "lobby-entry" }, h("span", { class: "who" }, `${w.name} is waiting`), h("span", { class: "row-actions" }, admit, deny));
  }

  private askLeave(): void {
    if (!this.leaveDialog) {
      const d = h("dialog", { class: "dialog", "aria-labelledby": "leave-title" });
      const leave = h("button", { type: "button", class: "btn" }, "Leave the call");
      const end = h("button", { type: "button", class: "btn danger", id: "confirm-end-all" }, "End the call for everyone");
      const cancel = h("button", { type: "button", class: "btn" }, "Cancel");
      leave.addEventListener("click", () => {
        d.close();
        this.actions.leave();
      });
      end.addEventListener("click", () => {
        d.close();
        this.actions.endForAll();
      });
      cancel.addEventListener("click", () => d.close());
      d.append(h("h2", { id: "leave-title" }, "Leave the call?"), h("p", {}, "Leaving lets the others continue. Ending closes the call for everyone."), h("div", { class: "actions" }, cancel, leave, end));
      document.body.append(d);
      this.leaveDialog = d;
    }
    this.leaveDialog.showModal();
  }
}

function initials(name: string): string {
  const parts = name.replace(/\(you\)|’s screen/g, "").trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] ?? "?") + (parts.length > 1 ? (parts[parts.length - 1]?.[0] ?? "") : "")).toUpperCase();
}

async function setSink(video: HTMLVideoElement, id: string): Promise<void> {
  const v = video as HTMLVideoElement & { setSinkId?: (id: string) => Promise<void> };
  await v.setSinkId?.(id).catch(() => undefined);
}
