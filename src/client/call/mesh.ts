/**
 * The mesh: one PeerLink per other participant, the local tracks on every
 * link, screen sharing, and the send quality each link gets as the room grows.
 */
import type { IceServer } from "../../signaling/protocol.js";
import type { LocalMedia } from "./media.js";
import { isPolite, PeerLink } from "./peer.js";

export interface RemoteMedia {
  camera?: MediaStream;
  screen?: MediaStream;
}

export interface MeshEvents {
  signal(to: string, type: "offer" | "answer" | "ice-candidate", data: Record<string, unknown>): void;
  media(peerId: string, media: RemoteMedia): void;
  linkState(peerId: string, state: RTCPeerConnectionState): void;
}

interface Entry {
  link: PeerLink;
  media: RemoteMedia;
  audioTx?: RTCRtpTransceiver;
  videoTx?: RTCRtpTransceiver;
  screenTx?: RTCRtpTransceiver;
}

/**
 * Send caps by the number of other people: every extra peer is one more
 * upload of our camera, so each gets less (6 people = 5 uploads).
 */
const CAPS = [
  { upTo: 1, bitrate: 1_500_000, height: 720, fps: 30 },
  { upTo: 2, bitrate: 900_000, height: 540, fps: 30 },
  { upTo: 3, bitrate: 600_000, height: 360, fps: 24 },
  { upTo: Infinity, bitrate: 350_000, height: 270, fps: 20 },
] as const;
const SCREEN_BITRATE = [1_500_000, 1_000_000, 700_000] as const;

/** A peer that joined after us normally sends the first offer; if it has not within this time, we offer. */
const LATE_OFFER_MS = 3_000;

export class Mesh {
  readonly entries = new Map<string, Entry>();
  private iceServers: IceServer[] = [];
  private screen?: { track: MediaStreamTrack; stream: MediaStream };
  private waitTimers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(
    private readonly selfId: string,
    private readonly local: LocalMedia,
    private readonly on: MeshEvents,
    private readonly opts: { relayOnly: boolean },
  ) {}

  setIceServers(servers: IceServer[]): void {
    this.iceServers = servers;
    for (const e of this.entries.values()) {
      try {
        e.link.pc.setConfiguration(this.config());
      } catch {
        /* some browsers refuse changes mid-call; new credentials apply to the next link */
      }
    }
  }

  /** We joined and found this peer: we offer. */
  call(peerId: string): void {
    this.drop(peerId);
    const e = this.create(peerId);
    this.addLocalTracks(e);
  }

  /** This peer joined after us: expect its offer, offer ourselves if none comes. */
  expect(peerId: string): void {
    this.drop(peerId);
    this.waitTimers.set(
      peerId,
      setTimeout(() => {
        this.waitTimers.delete(peerId);
        if (!this.entries.has(peerId)) this.call(peerId);
      }, LATE_OFFER_MS),
    );
  }

  /** A link whose media is flowing now: worth keeping when signaling starts over (a server restart). */
  isConnected(peerId: string): boolean {
    return this.entries.get(peerId)?.link.pc.connectionState === "connected";
  }

  /**
   * After a resync (the server restarted, and its embedded relay with it) a link carried by a relay
   * allocation is dead even while ICE still says "connected" (consent checks take seconds to fail):
   * restart ICE at once so it gets a new allocation (either end's relay: a restart makes both ends
   * gather again). A link on a direct path is left alone.
   */
  async restartIceIfRelayed(peerId: string): Promise<void> {
    const e = this.entries.get(peerId);
    if (!e) return;
    const report = await e.link.pc.getStats();
    let pairId: string | undefined;
    report.forEach((r: { type: string; selectedCandidatePairId?: string }) => {
      if (r.type === "transport" && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
    });
    const pair = pairId ? report.get(pairId) : undefined;
    const relayed = pair && [pair.localCandidateId, pair.remoteCandidateId].some((id) => report.get(id)?.candidateType === "relay");
    if (relayed) e.link.restartIce("the server and its relay restarted", true);
  }

  has(peerId: string): boolean {
    return this.entries.has(peerId) || this.waitTimers.has(peerId);
  }

  receive(from: string, type: "offer" | "answer" | "ice-candidate", data: Record<string, unknown>): void {
    let e = this.entries.get(from);
    if (!e) {
      if (type !== "offer") return;
      clearTimeout(this.waitTimers.get(from));
      this.waitTimers.delete(from);
      e = this.create(from);
    }
    const entry = e;
    void entry.link.receive(type, data, () => this.answerWithLocalTracks(entry));
  }

  drop(peerId: string): void {
    clearTimeout(this.waitTimers.get(peerId));
    this.waitTimers.delete(peerId);
    const e = this.entries.get(peerId);
    if (!e) return;
    e.link.close();
    this.entries.delete(peerId);
    this.on.media(peerId, {});
    this.applyCaps();
  }

  dropAll(): void {
    for (const id of [...this.entries.keys(), ...this.waitTimers.keys()]) this.drop(id);
  }

  /** A new camera or microphone track (device switch, camera back on): no renegotiation needed. */
  async replaceLocalTrack(kind: "audio" | "video", track: MediaStreamTrack | null): Promise<void> {
    for (const e of this.entries.values()) {
      const tx = kind === "audio" ? e.audioTx : e.videoTx;
      if (tx) {
        await tx.sender.replaceTrack(track).catch((err) => console.warn("parley: replaceTrack", err));
        if (track && tx.direction === "recvonly") tx.direction = "sendrecv";
      } else if (track) {
        const sender = e.link.pc.addTrack(track, this.local.stream);
        const added = e.link.pc.getTransceivers().find((t) => t.sender === sender);
        if (kind === "audio") e.audioTx = added;
        else e.videoTx = added;
      }
    }
    this.applyCaps();
  }

  /** Adds the screen as a third track on every link (renegotiates). */
  startScreen(track: MediaStreamTrack, stream: MediaStream): void {
    this.screen = { track, stream };
    for (const e of this.entries.values()) this.addScreen(e);
    this.applyCaps();
  }

  stopScreen(): void {
    this.screen = undefined;
    for (const e of this.entries.values()) {
      const tx = e.screenTx;
      if (!tx) continue;
      void tx.sender.replaceTrack(null);
      // Inactive (not stopped) so the m-line is reused by the next share instead of piling up.
      tx.direction = "inactive";
    }
  }

  get peerCount(): number {
    return this.entries.size;
  }

  /** Sender limits for the current room size (RTCRtpSender.setParameters, no renegotiation). */
  applyCaps(): void {
    const n = Math.max(1, this.entries.size);
    const cap = CAPS.find((c) => n <= c.upTo)!;
    const screenBitrate = SCREEN_BITRATE[Math.min(n - 1, SCREEN_BITRATE.length - 1)]!;
    for (const e of this.entries.values()) {
      if (e.videoTx) void setLimits(e.videoTx.sender, cap.bitrate, cap.height, cap.fps);
      if (e.screenTx?.sender.track) void setLimits(e.screenTx.sender, screenBitrate, undefined, undefined);
    }
  }

  /** Current caps, for the UI and the test hook. */
  currentCap(): { bitrate: number; height: number; fps: number } {
    const n = Math.max(1, this.entries.size);
    const c = CAPS.find((x) => n <= x.upTo)!;
    return { bitrate: c.bitrate, height: c.height, fps: c.fps };
  }

  private config(): RTCConfiguration {
    return {
      iceServers: this.iceServers as RTCIceServer[],
      iceTransportPolicy: this.opts.relayOnly ? "relay" : "all",
      bundlePolicy: "max-bundle",
      rtcpMuxPolicy: "require",
    };
  }

  private create(peerId: string): Entry {
    const entry: Entry = { media: {}, link: undefined as unknown as PeerLink };
    entry.link = new PeerLink(peerId, isPolite(this.selfId, peerId), this.config(), (type, data) => this.on.signal(peerId, type, data), {
      track: (ev) => this.onTrack(peerId, entry, ev),
      state: (s) => {
        this.on.linkState(peerId, s);
        if (s === "connected") this.applyCaps();
      },
      broken: () => {
        // The other side restarted its session: start over with a fresh connection, and we offer.
        console.info("parley: new connection for", peerId);
        this.call(peerId);
      },
    });
    this.entries.set(peerId, entry);
    return entry;
  }

  private addLocalTracks(e: Entry): void {
    const pc = e.link.pc;
    const stream = this.local.stream;
    // addTrack (not addTransceiver) where we have a track: if both sides offer at once, the
    // polite side's rollback keeps such transceivers reusable for the winning offer.
    const add = (kind: "audio" | "video", track: MediaStreamTrack | undefined) => {
      if (!track) return pc.addTransceiver(kind, { direction: "sendrecv", streams: [stream] });
      const sender = pc.addTrack(track, stream);
      return pc.getTransceivers().find((t) => t.sender === sender);
    };
    e.audioTx = add("audio", this.local.audioTrack);
    e.videoTx = add("video", this.local.videoTrack);
    if (this.screen) this.addScreen(e);
    this.applyCaps();
  }

  /** Runs between applying a remote offer and creating our answer: put our tracks on its m-lines. */
  private answerWithLocalTracks(e: Entry): void {
    const pc = e.link.pc;
    const stream = this.local.stream;
    for (const kind of ["audio", "video"] as const) {
      if (kind === "audio" ? e.audioTx : e.videoTx) continue;
      const tx = pc.getTransceivers().find((t) => t.receiver.track.kind === kind && t.mid !== null && !t.sender.track && t !== e.screenTx && t.direction !== "stopped");
      if (!tx) continue;
      const track = kind === "audio" ? this.local.audioTrack : this.local.videoTrack;
      tx.direction = "sendrecv";
      if (track) void tx.sender.replaceTrack(track);
      tx.sender.setStreams?.(stream);
      if (kind === "audio") e.audioTx = tx;
      else e.videoTx = tx;
    }
    if (this.screen && !e.screenTx) this.addScreen(e);
    this.applyCaps();
  }

  private addScreen(e: Entry): void {
    if (!this.screen) return;
    const { track, stream } = this.screen;
    if (e.screenTx && e.screenTx.direction !== "stopped") {
      void e.screenTx.sender.replaceTrack(track);
      e.screenTx.sender.setStreams?.(stream);
      e.screenTx.direction = "sendonly";
      return;
    }
    e.screenTx = e.link.pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    // Screens are text: keep them sharp and lower the frame rate instead.
    track.contentHint = "detail";
  }

  private onTrack(peerId: string, e: Entry, ev: RTCTrackEvent): void {
    const stream = ev.streams[0] ?? new MediaStream([ev.track]);
    const isCamera =
      ev.track.kind === "audio" || stream === e.media.camera || stream.getAudioTracks().length > 0 || (!e.media.camera && ev.transceiver === firstVideo(e.link.pc));
    if (isCamera) e.media = { ...e.media, camera: stream };
    else e.media = { ...e.media, screen: stream };
    stream.onremovetrack = () => {
      if (stream === e.media.screen && stream.getVideoTracks().length === 0) {
        e.media = { ...e.media, screen: undefined };
        this.on.media(peerId, e.media);
      }
    };
    // An ended share goes inactive: the track mutes, and comes back unmuted on the next share.
    if (!isCamera) {
      ev.track.onmute = () => {
        if (e.media.screen === stream) {
          e.media = { ...e.media, screen: undefined };
          this.on.media(peerId, e.media);
        }
      };
      ev.track.onunmute = () => {
        if (e.media.screen !== stream && ev.track.readyState === "live") {
          e.media = { ...e.media, screen: stream };
          this.on.media(peerId, e.media);
        }
      };
    }
    this.on.media(peerId, e.media);
  }
}

function firstVideo(pc: RTCPeerConnection): RTCRtpTransceiver | undefined {
  return pc.getTransceivers().find((t) => t.receiver.track.kind === "video");
}

async function setLimits(sender: RTCRtpSender, maxBitrate: number, height: number | undefined, fps: number | undefined): Promise<void> {
  const p = sender.getParameters();
  if (!p.encodings || p.encodings.length === 0) return; // not negotiated yet; applied again on connect
  const enc = p.encodings[0]!;
  enc.maxBitrate = maxBitrate;
  if (fps) enc.maxFramerate = fps;
  const h = sender.track?.getSettings().height;
  if (height && h) enc.scaleResolutionDownBy = Math.max(1, h / height);
  try {
    await sender.setParameters(p);
  } catch (err) {
    console.warn("parley: setParameters", err);
  }
}
