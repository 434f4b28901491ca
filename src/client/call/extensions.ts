/**
 * What other browser modules (recording) get from the call page: the room,
 * the controls bar, the local media, incoming frames and a way to send.
 * A module is added with one entry in `EXTENSIONS` (main.ts).
 */
import type { ClientData, ClientType } from "../../signaling/protocol.js";
import type { Frame } from "./signaling.js";

export interface CallApi {
  roomId: string;
  selfId: string;
  isHost: boolean;
  token: string;
  origin: string;
  room: { recording: { enabled: boolean; requireConsent: boolean; active: boolean } };
  /** The controls bar: add a button with `addControl`. */
  addControl(el: HTMLElement): void;
  /** The header's indicator area (e.g. a "Recording" badge). */
  indicators: HTMLElement;
  /** Local camera + microphone stream (tracks change when devices switch). */
  localStream(): MediaStream;
  /** Remote camera streams by participant id (for a composite recording). */
  remoteStreams(): Map<string, MediaStream>;
  /** Every validated frame from the server, e.g. `recording`. Returns an unsubscribe function. */
  onFrame(type: Frame["type"] | "*", fn: (f: Frame) => void): () => void;
  send<T extends ClientType>(type: T, data: ClientData<T>): void;
  toast(text: string): void;
  /** Called once when the person leaves or the call ends (stop recorders, flush uploads). */
  onLeave(fn: () => void | Promise<void>): void;
}

export type CallExtension = (api: CallApi) => void;
