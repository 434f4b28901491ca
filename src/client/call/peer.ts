/**
 * One RTCPeerConnection to one other participant, negotiated with the
 * "perfect negotiation" pattern (W3C webrtc-pc §10.7 example): either side
 * may offer at any time; on a collision the polite side rolls back and the
 * impolite side ignores the other offer. Polite/impolite comes from comparing
 * participant ids, so both ends agree without talking about it.
 */
export type SignalOut = (type: "offer" | "answer" | "ice-candidate", data: Record<string, unknown>) => void;

export interface PeerLinkEvents {
  track(ev: RTCTrackEvent): void;
  state(state: RTCPeerConnectionState): void;
  /** The connection cannot be repaired in place (a remote offer from a new session): make a new link. */
  broken(reason: string): void;
}

/** How long a connection may stay `disconnected` before we restart ICE instead of waiting for it to heal. */
const DISCONNECTED_GRACE_MS = 3_000;
/** A restart needs a round trip of signaling and a new ICE check; do not pile them up faster than this. */
const MIN_RESTART_GAP_MS = 6_000;
const WATCHDOG_MS = 1_000;

export class PeerLink {
  readonly pc: RTCPeerConnection;
  iceRestarts = 0;
  createdAt = performance.now();
  connectedAt?: number;
  private makingOffer = false;
  private ignoreOffer = false;
  private settingRemoteAnswer = false;
  private inbox: Promise<void> = Promise.resolve();
  private watchdog: ReturnType<typeof setInterval>;
  /** Since when ICE has been disconnected or failed (0 = it is not). */
  private brokenSince = 0;
  private lastRestart = 0;
  private closed = false;

  constructor(
    readonly peerId: string,
    readonly polite: boolean,
    config: RTCConfiguration,
    private readonly signal: SignalOut,
    private readonly on: PeerLinkEvents,
  ) {
    this.pc = new RTCPeerConnection(config);
    const pc = this.pc;
    pc.onnegotiationneeded = async () => {
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        const d = pc.localDescription;
        if (d && d.type === "offer") this.signal("offer", { sdp: d.sdp, type: "offer" });
      } catch (err) {
        console.warn("parley: offer failed", this.peerId, err);
      } finally {
        this.makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate }) => {
      // End-of-candidates is implied by the connection state; only real candidates travel.
      if (candidate && candidate.candidate) this.signal("ice-candidate", { candidate: candidate.toJSON() });
    };
    pc.ontrack = (ev) => this.on.track(ev);
    pc.onconnectionstatechange = () => this.onConnectionState();
    pc.oniceconnectionstatechange = () => this.checkIce();
    // Keeps restarting while the path stays broken (a restart made during the outage fails too).
    this.watchdog = setInterval(() => this.checkIce(), WATCHDOG_MS);
  }

  /** Incoming signaling for this peer, handled strictly in order. */
  receive(type: "offer" | "answer" | "ice-candidate", data: Record<string, unknown>, beforeAnswer?: () => void): Promise<void> {
    this.inbox = this.inbox.then(() => this.handle(type, data, beforeAnswer)).catch((err) => console.warn("parley: signal for", this.peerId, err));
    return this.inbox;
  }

  private async handle(type: string, data: Record<string, unknown>, beforeAnswer?: () => void): Promise<void> {
    if (this.closed) return;
    const pc = this.pc;
    if (type === "ice-candidate") {
      const c = data.candidate as RTCIceCandidateInit | null;
      if (!c) return;
      try {
        await pc.addIceCandidate(c);
      } catch (err) {
        // Candidates of an offer we ignored in a collision are expected to fail.
        if (!this.ignoreOffer) console.warn("parley: candidate rejected", err);
      }
      return;
    }
    const description = { type: type as RTCSdpType, sdp: String(data.sdp ?? "") };
    const readyForOffer = !this.makingOffer && (pc.signalingState === "stable" || this.settingRemoteAnswer);
    const offerCollision = description.type === "offer" && !readyForOffer;
    this.ignoreOffer = !this.polite && offerCollision;
    if (this.ignoreOffer) return;
    if (description.type === "answer" && pc.signalingState !== "have-local-offer") return;
    this.settingRemoteAnswer = description.type === "answer";
    try {
      await pc.setRemoteDescription(description);
    } catch (err) {
      this.settingRemoteAnswer = false;
      // An offer that cannot apply (new DTLS fingerprint: the other side reloaded) needs a fresh connection.
      if (description.type === "offer") this.on.broken(String(err));
      else console.warn("parley: answer rejected", err);
      return;
    }
    this.settingRemoteAnswer = false;
    if (description.type === "offer") {
      beforeAnswer?.();
      await pc.setLocalDescription();
      const d = pc.localDescription;
      if (d) this.signal("answer", { sdp: d.sdp, type: "answer" });
    }
  }

  restartIce(reason: string, force = false): void {
    if (this.closed) return;
    const now = performance.now();
    if (!force && now - this.lastRestart < MIN_RESTART_GAP_MS) return;
    this.lastRestart = now;
    this.iceRestarts++;
    console.info("parley: ICE restart with", this.peerId, "because", reason);
    // Triggers negotiationneeded with an offer that carries new ICE credentials.
    this.pc.restartIce();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.watchdog);
    this.pc.onnegotiationneeded = this.pc.onicecandidate = this.pc.ontrack = null;
    this.pc.onconnectionstatechange = this.pc.oniceconnectionstatechange = null;
    this.pc.close();
  }

  private onConnectionState(): void {
    const s = this.pc.connectionState;
    if (s === "connected") this.connectedAt ??= performance.now();
    this.checkIce();
    this.on.state(s);
  }

  /** ICE restart when the connection failed, or stayed disconnected past the grace period. */
  private checkIce(): void {
    if (this.closed) return;
    const ice = this.pc.iceConnectionState;
    const broken = ice === "disconnected" || ice === "failed" || this.pc.connectionState === "failed";
    if (!broken) {
      this.brokenSince = 0;
      return;
    }
    const now = performance.now();
    this.brokenSince ||= now;
    if (ice === "failed" || now - this.brokenSince >= DISCONNECTED_GRACE_MS) this.restartIce(`ICE ${ice} for ${Math.round(now - this.brokenSince)} ms`);
  }
}

/** Both ends compute the same answer: the smaller id is polite. */
export function isPolite(selfId: string, peerId: string): boolean {
  return selfId < peerId;
}
