/**
 * The pre-join connection check: can this browser reach us over a
 * WebSocket, reach the STUN service, and get a relayed address from TURN?
 * Each answer is put in plain words by the pre-join screen.
 */
import { probeWebSocket } from "./signaling.js";

export type CheckStatus = "pending" | "ok" | "warn" | "fail" | "skip";

export interface TurnCredentials {
  username: string;
  password: string;
  ttl: number;
  uris: string[];
}

export { probeWebSocket };

/** True when a server-reflexive candidate came back (our STUN answered). Undefined: nothing to test. */
export async function checkStun(urls: string[]): Promise<boolean | undefined> {
  if (urls.length === 0) return undefined;
  return gather({ iceServers: [{ urls }] }, "srflx");
}

export type TurnResult = "ok" | "fail" | "off" | "later" | "error";

export async function fetchTurnCredentials(origin: string, token: string): Promise<TurnCredentials | "off" | "later" | "error"> {
  try {
    const res = await fetch(`${origin}/api/turn/credentials`, { headers: { authorization: `Bearer ${token}` }, cache: "no-store" });
    if (res.status === 404 || res.status === 503) return "off";
    // Credentials are only issued once admitted (waiting room): checked again inside the call.
    if (res.status === 403 || res.status === 409) return "later";
    if (!res.ok) return "error";
    return (await res.json()) as TurnCredentials;
  } catch {
    return "error";
  }
}

/** Gathers a relay candidate with the issued credentials: proves the relay answers and accepts them. */
export async function checkTurn(origin: string, token: string | undefined): Promise<TurnResult> {
  if (!token) return "later";
  const creds = await fetchTurnCredentials(origin, token);
  if (typeof creds === "string") return creds;
  const turn = creds.uris.filter((u) => u.startsWith("turn"));
  if (turn.length === 0) return "off";
  const ok = await gather({ iceServers: [{ urls: turn, username: creds.username, credential: creds.password }], iceTransportPolicy: "relay" }, "relay", 7_000);
  return ok ? "ok" : "fail";
}

function gather(config: RTCConfiguration, want: "srflx" | "relay", timeoutMs = 5_000): Promise<boolean> {
  let pc: RTCPeerConnection;
  try {
    pc = new RTCPeerConnection(config);
  } catch {
    return Promise.resolve(false);
  }
  pc.createDataChannel("check");
  return new Promise((resolve) => {
    let settled = false;
    const done = (v: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      pc.close();
      resolve(v);
    };
    // STUN without NAT answers with our own address: no separate srflx candidate is made. So STUN
    // counts as reached when some local socket got no error (701 = no answer) from the server.
    const hosts = new Set<string>();
    const failed = new Set<string>();
    const stunAnswered = () => want === "srflx" && [...hosts].some((a) => !failed.has(a));
    const timer = setTimeout(() => done(stunAnswered()), timeoutMs);
    pc.onicecandidateerror = (e) => void failed.add(String((e as RTCPeerConnectionIceErrorEvent).address ?? ""));
    pc.onicecandidate = (e) => {
      if (e.candidate?.type === "host" && e.candidate.address) hosts.add(e.candidate.address);
      if (!e.candidate) return done(stunAnswered());
      if (e.candidate.type === want || e.candidate.candidate.includes(` typ ${want}`)) done(true);
    };
    pc.createOffer()
      .then((o) => pc.setLocalDescription(o))
      .catch(() => done(false));
  });
}
