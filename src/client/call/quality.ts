/**
 * Connection quality per peer from RTCPeerConnection.getStats(): round trip,
 * loss and bitrates since the previous sample, and whether the path is relayed.
 */
export type QualityLevel = "good" | "fair" | "poor" | "unknown";

export interface PeerQuality {
  rttMs?: number;
  lossPct?: number;
  bitrateIn?: number;
  bitrateOut?: number;
  relay?: boolean;
  framesDecoded: number;
  level: QualityLevel;
}

interface Prev {
  at: number;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  lostIn: number;
}

export class QualitySampler {
  private prev = new Map<string, Prev>();

  async sample(peerId: string, pc: RTCPeerConnection): Promise<PeerQuality> {
    const report = await pc.getStats();
    let bytesIn = 0;
    let bytesOut = 0;
    let packetsIn = 0;
    let lostIn = 0;
    let framesDecoded = 0;
    let remoteLoss: number | undefined;
    let rtt: number | undefined;
    let pairId: string | undefined;
    const byId = new Map<string, Record<string, unknown>>();
    report.forEach((s: Record<string, unknown>) => {
      byId.set(s.id as string, s);
      switch (s.type) {
        case "inbound-rtp":
          bytesIn += num(s.bytesReceived);
          packetsIn += num(s.packetsReceived);
          lostIn += Math.max(0, num(s.packetsLost));
          if (s.kind === "video") framesDecoded += num(s.framesDecoded);
          break;
        case "outbound-rtp":
          bytesOut += num(s.bytesSent);
          break;
        case "remote-inbound-rtp":
          // What the other side lost of ours (fractionLost is 0..1 over the last report interval).
          if (typeof s.fractionLost === "number") remoteLoss = Math.max(remoteLoss ?? 0, s.fractionLost * 100);
          break;
        case "transport":
          if (typeof s.selectedCandidatePairId === "string") pairId = s.selectedCandidatePairId;
          break;
      }
    });
    let pair = pairId ? byId.get(pairId) : undefined;
    if (!pair) byId.forEach((s) => void (s.type === "candidate-pair" && s.nominated && s.state === "succeeded" && (pair = s)));
    if (pair && typeof pair.currentRoundTripTime === "number") rtt = pair.currentRoundTripTime * 1000;
    const local = pair ? byId.get(pair.localCandidateId as string) : undefined;
    const remote = pair ? byId.get(pair.remoteCandidateId as string) : undefined;
    const relay = pair ? local?.candidateType === "relay" || remote?.candidateType === "relay" : undefined;

    const now = performance.now();
    const p = this.prev.get(peerId);
    this.prev.set(peerId, { at: now, bytesIn, bytesOut, packetsIn, lostIn });
    const q: PeerQuality = { level: "unknown", framesDecoded, relay, rttMs: rtt === undefined ? undefined : Math.round(rtt) };
    if (p && now > p.at) {
      const secs = (now - p.at) / 1000;
      q.bitrateIn = Math.max(0, Math.round(((bytesIn - p.bytesIn) * 8) / secs));
      q.bitrateOut = Math.max(0, Math.round(((bytesOut - p.bytesOut) * 8) / secs));
      const dRecv = packetsIn - p.packetsIn;
      const dLost = lostIn - p.lostIn;
      const inLoss = dRecv + dLost > 0 ? (Math.max(0, dLost) / (dRecv + Math.max(0, dLost))) * 100 : 0;
      q.lossPct = round1(Math.max(inLoss, remoteLoss ?? 0));
    }
    q.level = levelOf(q, pc.connectionState);
    return q;
  }

  forget(peerId: string): void {
    this.prev.delete(peerId);
  }
}

function levelOf(q: PeerQuality, state: RTCPeerConnectionState): QualityLevel {
  if (state !== "connected") return state === "new" || state === "connecting" ? "unknown" : "poor";
  if (q.rttMs === undefined || q.lossPct === undefined) return "unknown";
  if (q.rttMs < 250 && q.lossPct < 2) return "good";
  if (q.rttMs < 500 && q.lossPct < 8) return "fair";
  return "poor";
}

const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const round1 = (v: number) => Math.round(v * 10) / 10;
