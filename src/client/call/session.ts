/**
 * One person's call: signaling frames in, mesh and views out. Holds who is
 * here, our own media state, and the loops for speaker detection and stats.
 */
import type { MediaState, PeerInfo, ServerData } from "../../signaling/protocol.js";
import { announce } from "./dom.js";
import type { CallApi, CallExtension } from "./extensions.js";
import { LevelMeter, REMOTE_SPEAKING_LEVEL, SPEAKING_LEVEL } from "./levels.js";
import type { LocalMedia } from "./media.js";
import { Mesh, type RemoteMedia } from "./mesh.js";
import { QualitySampler, type PeerQuality } from "./quality.js";
import { SignalingClient, type Fatal, type Frame, type LinkState, type Transport } from "./signaling.js";
import { RoomView, type PeerView } from "./ui/room.js";
import type { EndState } from "./ui/states.js";
import { waitingView } from "./ui/waiting.js";

export interface SessionOptions {
  origin: string;
  token: string;
  roomId: string;
  title: string | null;
  relayOnly: boolean;
  transport: Transport;
  speaker?: string;
  extensions: CallExtension[];
}

export interface SessionUi {
  show(el: HTMLElement): void;
  end(state: EndState, detail?: string): void;
}

const STATS_EVERY_MS = 10_000;
const SAMPLE_EVERY_MS = 5_000;
const SPEAKER_TICK_MS = 250;
/** The highlight stays this long after someone stops, so it does not flicker between words. */
const SPEAKER_HOLD_MS = 1_200;
/**
 * How long a peer kept across a resync may take to reappear in the restarted hub: longer than the
 * signaling back-off needs to find a server that was down for a few seconds (300 ms … 15 s steps).
 */
const RETURN_GRACE_MS = 45_000;

type Phase = "connecting" | "waiting" | "in-call" | "ended";

export class CallSession {
  phase: Phase = "connecting";
  selfId = "";
  isHost = false;
  room?: ServerData<"welcome">["room"];
  readonly peers = new Map<string, PeerInfo>();
  readonly remote = new Map<string, RemoteMedia>();
  readonly quality = new Map<string, PeerQuality>();
  readonly linkStates = new Map<string, RTCPeerConnectionState>();
  hand = false;
  screen?: MediaStream;
  /** performance.now() marks for the join-to-first-frame figure. */
  readonly timings: { joinClicked?: number; welcome?: number; firstFrame?: number; firstFrameFrom?: string } = {};

  readonly signaling: SignalingClient;
  private mesh?: Mesh;
  private view?: RoomView;
  private meter = new LevelMeter();
  private sampler = new QualitySampler();
  private timers: ReturnType<typeof setInterval>[] = [];
  private talkMs = 0;
  private lastTick = performance.now();
  private speakingUntil = new Map<string, number>();
  private frameListeners = new Map<string, Set<(f: Frame) => void>>();
  private leaveHooks: (() => void | Promise<void>)[] = [];
  private selfName = "";
  private extensionsMounted = false;
  private admittedTimer?: ReturnType<typeof setTimeout>;
  /** Peers whose links were kept across a resync and who have not reappeared in the restarted hub yet. */
  private returning = new Set<string>();
  private returnTimer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly opts: SessionOptions,
    private readonly media: LocalMedia,
    private readonly ui: SessionUi,
  ) {
    this.signaling = new SignalingClient(
      opts.origin,
      opts.token,
      {
        frame: (f) => this.onFrame(f),
        state: (s, info) => this.onLinkState(s, info),
        fatal: (reason, detail) => this.finish(fatalState(reason), detail),
      },
      { transport: opts.transport },
    );
  }

  start(): void {
    this.signaling.start();
    addEventListener("pagehide", () => this.signaling.leave());
  }

  // ---------------------------------------------------------------- frames

  private onFrame(f: Frame): void {
    for (const key of [f.type, "*"]) for (const fn of this.frameListeners.get(key) ?? []) safe(() => fn(f));
    switch (f.type) {
      case "welcome":
        return this.onWelcome(f.data as ServerData<"welcome">);
      case "waiting": {
        const d = f.data as ServerData<"waiting">;
        this.phase = "waiting";
        this.selfId = d.self.id;
        this.ui.show(waitingView({ title: d.room.title, name: d.self.name, stream: this.media.stream, onLeave: () => this.leave() }));
        announce("You are in the waiting room. The host will let you in soon.");
        return;
      }
      case "admitted":
        announce("You were let in. Joining the call…");
        // The welcome normally follows at once; if it does not, a fresh connection asks for it.
        clearTimeout(this.admittedTimer);
        this.admittedTimer = setTimeout(() => {
          if (this.phase === "waiting") this.signaling.simulateDrop();
        }, 4_000);
        return;
      case "denied":
        return this.finish("denied", (f.data as ServerData<"denied">).reason);
      case "removed":
        return this.finish("removed", (f.data as ServerData<"removed">).reason);
      case "room-ended":
        return this.finish("ended");
      case "peer-joined": {
        const d = f.data as ServerData<"peer-joined">;
        return this.onPeerJoined(d.peer, d.resync === true);
      }
      case "peer-left": {
        const { id } = f.data as ServerData<"peer-left">;
        const p = this.peers.get(id);
        this.forgetPeer(id);
        if (p) this.view?.toast(`${p.name} left`);
        return;
      }
      case "offer":
      case "answer":
      case "ice-candidate":
        if (f.from !== "server") this.mesh?.receive(f.from, f.type, f.data as Record<string, unknown>);
        return;
      case "media-state": {
        const p = this.peers.get(f.from);
        if (!p) return;
        p.media = f.data as MediaState;
        this.view?.upsertPeer(toView(p));
        return;
      }
      case "hand": {
        const p = this.peers.get(f.from);
        if (!p) return;
        const raised = (f.data as ServerData<"hand">).raised;
        if (raised && !p.hand) this.view?.toast(`${p.name} raised their hand`);
        p.hand = raised;
        this.view?.upsertPeer(toView(p));
        return;
      }
      case "chat": {
        const d = f.data as ServerData<"chat">;
        const name = f.from === this.selfId ? this.selfName : (this.peers.get(f.from)?.name ?? "Someone");
        if (f.from === this.selfId) return; // our own echo: already shown when sent
        this.view?.addChat({ fromName: name, text: d.text, self: false, at: new Date(), private: !!d.to });
        return;
      }
      case "mute": {
        const kind = (f.data as ServerData<"mute">).kind;
        if (kind === "audio" && !this.media.micMuted) {
          this.toggleMic();
          this.view?.toast("The host muted your microphone. Unmute when you want to speak.");
        } else if (kind === "video" && !this.media.cameraOff) {
          void this.toggleCamera();
          this.view?.toast("The host turned your camera off.");
        }
        return;
      }
      case "lobby":
        this.view?.setLobby((f.data as ServerData<"lobby">).waiting);
        return;
      case "recording":
        if (this.room) this.room.recording.active = (f.data as ServerData<"recording">).active;
        return;
      case "error": {
        const e = f.data as ServerData<"error">;
        console.warn("parley: server error", e.code, e.message);
        if (e.code === "forbidden") this.view?.toast("Only the host can do that.");
        return;
      }
    }
  }

  private onWelcome(d: ServerData<"welcome">): void {
    clearTimeout(this.admittedTimer);
    this.timings.welcome ??= performance.now();
    this.selfId = d.self.id;
    this.selfName = d.self.name;
    this.isHost = d.self.role === "host" || d.self.role === "moderator";
    this.room = d.room;
    if (!this.mesh) {
      this.mesh = new Mesh(this.selfId, this.media, {
        signal: (to, type, data) => this.signaling.send(type, data, to),
        media: (peerId, m) => this.onRemoteMedia(peerId, m),
        linkState: (peerId, s) => {
          this.linkStates.set(peerId, s);
          this.view?.setQuality(peerId, this.quality.get(peerId), s);
        },
      }, { relayOnly: this.opts.relayOnly });
    }
    this.mesh.setIceServers(d.iceServers);
    const present = new Set(d.peers.map((p) => p.id));
    if (d.resync) {
      // The server lost our session (it restarted, or we were away too long). Media is peer to peer and
      // did not need it: keep every link that is still connected. Peers not listed may simply not have
      // reconnected yet; they get a grace period to come back before their tile goes.
      const kept = [...this.peers.keys()].filter((id) => this.mesh!.isConnected(id));
      for (const id of [...this.peers.keys()]) if (!kept.includes(id)) this.forgetPeer(id);
      this.awaitReturn(kept.filter((id) => !present.has(id)));
      // Only towards peers already back: an offer to one the new process does not know yet is lost. The
      // page that returns last makes the restart; the one that was first just answers it.
      for (const id of kept) if (present.has(id)) void this.mesh.restartIceIfRelayed(id).catch(() => undefined);
    } else {
      for (const id of [...this.peers.keys()]) if (!present.has(id) && !this.returning.has(id)) this.forgetPeer(id);
    }
    if (this.phase !== "in-call") this.enterCall();
    for (const p of d.peers) {
      this.returning.delete(p.id);
      this.peers.set(p.id, p);
      this.view?.upsertPeer(toView(p));
      // We are the newcomer (or came back): we offer to everyone we do not already have a link with.
      if (!this.mesh.has(p.id)) this.mesh.call(p.id);
    }
    this.sendMediaState();
    if (this.hand) this.signaling.send("hand", { raised: true });
  }

  private onPeerJoined(p: PeerInfo, resync = false): void {
    const known = this.peers.has(p.id);
    this.returning.delete(p.id);
    this.peers.set(p.id, p);
    this.view?.upsertPeer(toView(p));
    // The same page back after the server lost its session, with our link to it still up: nothing to redo.
    if (resync && this.mesh?.isConnected(p.id)) return;
    // Otherwise a peer-joined for someone we knew means a new session of theirs (reload): start over with them.
    this.mesh?.expect(p.id);
    if (!known) {
      this.view?.toast(`${p.name} joined`);
      announce(`${p.name} joined the call`);
    }
  }

  /**
   * Peers kept across a resync that the server does not list yet: they are expected back (their page
   * reconnects to the restarted server on its own back-off). Whoever has not returned in time is gone.
   */
  private awaitReturn(ids: string[]): void {
    for (const id of ids) this.returning.add(id);
    if (!ids.length) return;
    clearTimeout(this.returnTimer);
    this.returnTimer = setTimeout(() => {
      for (const id of [...this.returning]) this.forgetPeer(id);
    }, RETURN_GRACE_MS);
  }

  private forgetPeer(id: string): void {
    this.returning.delete(id);
    this.peers.delete(id);
    this.remote.delete(id);
    this.mesh?.drop(id);
    this.view?.removePeer(id);
  }

  private onRemoteMedia(peerId: string, m: RemoteMedia): void {
    if (!m.camera && !m.screen) this.remote.delete(peerId);
    else this.remote.set(peerId, m);
    if (this.peers.has(peerId)) this.view?.setRemoteMedia(peerId, m);
  }

  private onLinkState(s: LinkState, info: { transport: Transport; attempt: number; nextRetryMs?: number }): void {
    if (this.phase === "ended") return;
    if (s === "reconnecting") {
      const secs = info.nextRetryMs ? Math.max(1, Math.round(info.nextRetryMs / 1000)) : 0;
      this.view?.setBanner(
        `Reconnecting…${secs ? ` (trying again in ${secs} s)` : ""} Your connection to the call dropped; video with others may continue meanwhile. If this keeps happening: move closer to your Wi-Fi router, turn off a VPN, or switch to mobile data.`,
      );
    } else if (s === "open") {
      this.view?.setBanner(undefined);
    }
  }

  // ---------------------------------------------------------------- call view

  private enterCall(): void {
    this.phase = "in-call";
    const view = new RoomView(
      {
        toggleMic: () => this.toggleMic(),
        toggleCamera: () => void this.toggleCamera(),
        toggleScreen: () => void this.toggleScreen(),
        toggleHand: () => this.toggleHand(),
        sendChat: (text) => {
          this.signaling.send("chat", { text });
          view.addChat({ fromName: this.selfName, text, self: true, at: new Date() });
        },
        leave: () => this.leave(),
        endForAll: () => {
          this.signaling.send("end-room", { reason: "host ended the call" });
          // The server answers with room-ended; do not wait for it to leave the page in a sane state.
          setTimeout(() => this.finish("ended"), 1_500);
        },
        mutePeer: (id) => this.signaling.send("mute", { participantId: id, kind: "audio" }),
        removePeer: (id) => this.signaling.send("remove", { participantId: id }),
        admit: (id) => this.signaling.send("admit", { participantId: id }),
        deny: (id) => this.signaling.send("deny", { participantId: id }),
        switchDevice: (kind, id) => void this.switchDevice(kind, id),
        setSpeaker: () => undefined,
      },
      { title: this.opts.title ?? "Video call", selfId: this.selfId, selfName: this.selfName, isHost: this.isHost, localStream: this.media.stream },
    );
    view.onFirstFrame = (peerId) => {
      if (this.timings.firstFrame === undefined) {
        this.timings.firstFrame = performance.now();
        this.timings.firstFrameFrom = peerId;
      }
    };
    this.view = view;
    this.ui.show(view.el);
    this.renderControls();
    view.refreshDevices({ cameraTrack: this.media.videoTrack, micTrack: this.media.audioTrack });
    if (this.opts.speaker) view.refreshDevices({});
    this.meter.attach(this.media.audioTrack);
    this.timers.push(setInterval(() => this.speakerTick(), SPEAKER_TICK_MS));
    this.timers.push(setInterval(() => void this.sampleQuality(), SAMPLE_EVERY_MS));
    this.timers.push(setInterval(() => this.sendStats(), STATS_EVERY_MS));
    this.mountExtensions();
    announce("You joined the call.");
  }

  private renderControls(): void {
    this.view?.setControls({
      micMuted: this.media.micMuted,
      cameraOff: this.media.cameraOff,
      sharing: !!this.screen,
      hand: this.hand,
      hasMic: !!this.media.audioTrack,
      hasCamera: !!this.media.videoTrack || this.media.cameraOff,
    });
  }

  private sendMediaState(): void {
    this.signaling.send("media-state", { audio: !!this.media.audioTrack && !this.media.micMuted, video: !!this.media.videoTrack && !this.media.cameraOff, screen: !!this.screen });
  }

  toggleMic(): void {
    if (!this.media.audioTrack) {
      void this.media.openKind("audio").then((t) => {
        if (t) void this.mesh?.replaceLocalTrack("audio", t);
        this.meter.attach(t);
        this.afterLocalChange();
      });
      return;
    }
    this.media.setMic(this.media.micMuted);
    this.afterLocalChange();
  }

  async toggleCamera(): Promise<void> {
    const turnOn = this.media.cameraOff || !this.media.videoTrack;
    const track = await this.media.setCamera(turnOn);
    await this.mesh?.replaceLocalTrack("video", track ?? null);
    if (turnOn && !track && this.media.videoProblem) this.view?.toast(`${this.media.videoProblem.title}. ${this.media.videoProblem.advice}`);
    this.view?.setLocalStream(this.media.stream);
    this.afterLocalChange();
  }

  async toggleScreen(): Promise<void> {
    if (this.screen) return this.stopScreen();
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
    } catch (err) {
      if ((err as Error).name !== "NotAllowedError") this.view?.toast("Screen sharing could not start.");
      return;
    }
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    this.screen = stream;
    // The browser's own "Stop sharing" bar ends the track.
    track.addEventListener("ended", () => this.stopScreen());
    this.mesh?.startScreen(track, stream);
    this.view?.setLocalScreen(stream);
    this.afterLocalChange();
  }

  private stopScreen(): void {
    if (!this.screen) return;
    for (const t of this.screen.getTracks()) t.stop();
    this.screen = undefined;
    this.mesh?.stopScreen();
    this.view?.setLocalScreen(undefined);
    this.afterLocalChange();
  }

  toggleHand(): void {
    this.hand = !this.hand;
    this.signaling.send("hand", { raised: this.hand });
    this.renderControls();
    announce(this.hand ? "Your hand is raised" : "Your hand is lowered");
  }

  private async switchDevice(kind: "audio" | "video", id: string): Promise<void> {
    const track = await this.media.switchDevice(kind, id);
    if (track) await this.mesh?.replaceLocalTrack(kind, track);
    if (kind === "audio") this.meter.attach(this.media.audioTrack);
    this.view?.setLocalStream(this.media.stream);
    this.afterLocalChange();
  }

  private afterLocalChange(): void {
    this.renderControls();
    this.sendMediaState();
  }

  // ---------------------------------------------------------------- loops

  private speakerTick(): void {
    const now = performance.now();
    const dt = now - this.lastTick;
    this.lastTick = now;
    const selfLevel = this.media.micMuted ? 0 : this.meter.level();
    if (selfLevel > SPEAKING_LEVEL) {
      this.talkMs += dt;
      this.speakingUntil.set("self", now + SPEAKER_HOLD_MS);
    }
    for (const [id, e] of this.mesh?.entries ?? []) {
      for (const r of e.link.pc.getReceivers()) {
        if (r.track.kind !== "audio") continue;
        const level = r.getSynchronizationSources?.()[0]?.audioLevel ?? 0;
        if (level > REMOTE_SPEAKING_LEVEL) this.speakingUntil.set(id, now + SPEAKER_HOLD_MS);
      }
    }
    const speaking = new Set<string>();
    for (const [id, until] of this.speakingUntil) if (until > now) speaking.add(id);
    this.view?.setSpeaking(speaking);
  }

  private async sampleQuality(): Promise<void> {
    for (const [id, e] of this.mesh?.entries ?? []) {
      try {
        const q = await this.sampler.sample(id, e.link.pc);
        this.quality.set(id, q);
        this.view?.setQuality(id, q, e.link.pc.connectionState);
      } catch {
        /* a closed connection has no stats */
      }
    }
  }

  private sendStats(): void {
    if (this.phase !== "in-call") return;
    const qs = [...this.quality.entries()].filter(([id]) => this.peers.has(id));
    const avg = (xs: number[]) => (xs.length ? Math.round(xs.reduce((a, b) => a + b, 0) / xs.length) : undefined);
    const defined = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined);
    let iceRestarts = 0;
    for (const e of this.mesh?.entries.values() ?? []) iceRestarts += e.link.iceRestarts;
    const losses = defined(qs.map(([, q]) => q.lossPct));
    this.signaling.send("stats", {
      rttMs: avg(defined(qs.map(([, q]) => q.rttMs))),
      lossPct: losses.length ? Math.min(100, Math.max(...losses)) : undefined,
      bitrateOut: sum(defined(qs.map(([, q]) => q.bitrateOut))),
      bitrateIn: sum(defined(qs.map(([, q]) => q.bitrateIn))),
      talkMs: Math.round(Math.min(this.talkMs, 3_600_000)),
      audioLevel: Math.round((this.media.micMuted ? 0 : this.meter.level()) * 1000) / 1000,
      relay: qs.some(([, q]) => q.relay),
      transport: this.signaling.transport,
      reconnections: this.signaling.reconnections,
      iceRestarts,
      peers: qs.slice(0, 50).map(([id, q]) => ({ id, rttMs: q.rttMs, lossPct: q.lossPct, bitrateIn: q.bitrateIn, bitrateOut: q.bitrateOut, relay: q.relay })),
    });
    this.talkMs = 0;
  }

  // ---------------------------------------------------------------- extensions

  private mountExtensions(): void {
    if (this.extensionsMounted || !this.view) return;
    this.extensionsMounted = true;
    const view = this.view;
    const api: CallApi = {
      roomId: this.opts.roomId,
      selfId: this.selfId,
      isHost: this.isHost,
      token: this.opts.token,
      origin: this.opts.origin,
      room: { recording: this.room?.recording ?? { enabled: false, requireConsent: false, active: false } },
      addControl: (el) => view.addControl(el),
      indicators: view.indicators,
      localStream: () => this.media.stream,
      remoteStreams: () => new Map([...this.remote].flatMap(([id, m]) => (m.camera ? [[id, m.camera] as [string, MediaStream]] : []))),
      onFrame: (type, fn) => {
        const set = this.frameListeners.get(type) ?? new Set();
        set.add(fn);
        this.frameListeners.set(type, set);
        return () => set.delete(fn);
      },
      send: (type, data) => this.signaling.send(type, data),
      toast: (text) => view.toast(text),
      onLeave: (fn) => void this.leaveHooks.push(fn),
    };
    for (const ext of this.opts.extensions) safe(() => ext(api));
  }

  // ---------------------------------------------------------------- the end

  leave(): void {
    this.signaling.leave();
    this.finish("left");
  }

  private finish(state: EndState, detail?: string): void {
    if (this.phase === "ended") return;
    this.phase = "ended";
    clearTimeout(this.admittedTimer);
    clearTimeout(this.returnTimer);
    for (const fn of this.leaveHooks) safe(() => void fn());
    this.signaling.stop();
    for (const t of this.timers) clearInterval(t);
    this.mesh?.dropAll();
    if (this.screen) for (const t of this.screen.getTracks()) t.stop();
    this.media.stopAll();
    this.meter.detach();
    this.view?.destroy();
    this.ui.end(state, detail);
  }

  /** For the test hook and support: restart ICE with one peer or all. */
  restartIce(peerId?: string): void {
    for (const [id, e] of this.mesh?.entries ?? []) if (!peerId || id === peerId) e.link.restartIce("requested");
  }

  links(): Map<string, RTCPeerConnection> {
    return new Map([...(this.mesh?.entries ?? [])].map(([id, e]) => [id, e.link.pc]));
  }

  iceRestartCount(): number {
    let n = 0;
    for (const e of this.mesh?.entries.values() ?? []) n += e.link.iceRestarts;
    return n;
  }

  capNow() {
    return this.mesh?.currentCap();
  }
}

function toView(p: PeerInfo): PeerView {
  return { id: p.id, name: p.name, role: p.role, roleLabel: p.roleLabel, media: p.media, hand: p.hand };
}

function fatalState(f: Fatal): EndState {
  return f === "not-found" ? "not-found" : f;
}

function sum(xs: number[]): number | undefined {
  return xs.length ? xs.reduce((a, b) => a + b, 0) : undefined;
}

function safe(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    console.error("parley:", err);
  }
}
