/**
 * `window.__parley`: a read-mostly view of the call for end-to-end tests and
 * for support ("open the console and type __parley.info()"). It exposes
 * nothing the page's user could not already see or do.
 */
import type { CallSession } from "./session.js";

export interface PeerStats {
  id: string;
  connectionState: RTCPeerConnectionState;
  iceConnectionState: RTCIceConnectionState;
  /** Video frames decoded per inbound video stream (camera first, then screen). */
  framesDecoded: number[];
  inboundVideoTracks: number;
  selectedPair?: { local: string; remote: string; localAddress?: string };
  localUfrag?: string;
}

export interface TestHook {
  state: { phase: string; endState?: string; joinClickedAt?: number };
  attach(s: CallSession): void;
  info(): unknown;
  stats(): Promise<PeerStats[]>;
  restartIce(peerId?: string): void;
  dropSocket(): void;
  timings(): Record<string, number | string | undefined>;
}

export function installTestHook(): TestHook {
  let session: CallSession | undefined;
  const hook: TestHook = {
    state: { phase: "prejoin" },
    attach(s) {
      session = s;
    },
    info() {
      const s = session;
      if (!s) return { phase: hook.state.phase };
      return {
        phase: s.phase === "ended" ? "ended" : s.phase,
        endState: hook.state.endState,
        selfId: s.selfId,
        isHost: s.isHost,
        transport: s.signaling.transport,
        signaling: s.signaling.state,
        lastSeq: s.signaling.lastSeq,
        reconnections: s.signaling.reconnections,
        iceRestarts: s.iceRestartCount(),
        peers: [...s.peers.keys()],
        links: Object.fromEntries([...s.links()].map(([id, pc]) => [id, pc.connectionState])),
        remote: Object.fromEntries([...s.remote].map(([id, m]) => [id, { camera: !!m.camera, screen: !!m.screen }])),
        cap: s.capNow(),
      };
    },
    async stats() {
      const out: PeerStats[] = [];
      for (const [id, pc] of session?.links() ?? []) {
        const report = await pc.getStats();
        const frames: number[] = [];
        let pairId: string | undefined;
        const byId = new Map<string, Record<string, unknown>>();
        report.forEach((r: Record<string, unknown>) => {
          byId.set(r.id as string, r);
          if (r.type === "inbound-rtp" && r.kind === "video") frames.push(Number(r.framesDecoded ?? 0));
          if (r.type === "transport" && typeof r.selectedCandidatePairId === "string") pairId = r.selectedCandidatePairId;
        });
        const pair = pairId ? byId.get(pairId) : undefined;
        const local = pair ? byId.get(pair.localCandidateId as string) : undefined;
        const remote = pair ? byId.get(pair.remoteCandidateId as string) : undefined;
        const ufrag = /a=ice-ufrag:(\S+)/.exec(pc.localDescription?.sdp ?? "")?.[1];
        out.push({
          id,
          connectionState: pc.connectionState,
          iceConnectionState: pc.iceConnectionState,
          framesDecoded: frames,
          inboundVideoTracks: pc.getReceivers().filter((r) => r.track.kind === "video" && r.track.readyState === "live" && !r.track.muted).length,
          selectedPair: local && remote ? { local: String(local.candidateType), remote: String(remote.candidateType), localAddress: String(local.address ?? local.ip ?? "") } : undefined,
          localUfrag: ufrag,
        });
      }
      return out;
    },
    restartIce(peerId) {
      session?.restartIce(peerId);
    },
    dropSocket() {
      session?.signaling.simulateDrop();
    },
    timings() {
      const t = session?.timings ?? {};
      return {
        joinClicked: t.joinClicked,
        welcome: t.welcome,
        firstFrame: t.firstFrame,
        firstFrameFrom: t.firstFrameFrom,
        joinToFirstFrameMs: t.firstFrame !== undefined && t.joinClicked !== undefined ? Math.round(t.firstFrame - t.joinClicked) : undefined,
      };
    },
  };
  (window as unknown as { __parley: TestHook }).__parley = hook;
  return hook;
}
