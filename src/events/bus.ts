import { EventEmitter } from "node:events";

/**
 * Domain events, the one way modules learn what happened elsewhere:
 * attendance, `/events` subscribers, webhooks and summaries all listen here,
 * so signaling never calls their code directly.
 */
export interface DomainEvents {
  "room-created": { roomId: string; sessionId: string; at: string };
  "room-started": { roomId: string; sessionId: string; at: string };
  "room-ended": { roomId: string; sessionId: string; at: string; reason: string; endedBy: string | null; finalDuration: number };
  "participant-joined": {
    roomId: string;
    sessionId: string;
    participantId: string;
    name: string;
    role: string;
    roleLabel?: string;
    transport: "ws" | "poll";
    at: string;
  };
  "participant-left": {
    roomId: string;
    sessionId: string;
    participantId: string;
    role: string;
    roleLabel?: string;
    at: string;
    reason: string;
    /** Seconds of this connection span. */
    duration: number;
  };
  "participant-waiting": { roomId: string; sessionId: string; participantId: string; name: string; at: string };
  "participant-admitted": { roomId: string; sessionId: string; participantId: string; by: string; at: string };
  "participant-denied": { roomId: string; sessionId: string; participantId: string; by: string; at: string };
  "participant-removed": { roomId: string; sessionId: string; participantId: string; by: string; at: string };
  "chat": { roomId: string; sessionId: string; from: string; to: string | null; text: string; at: string };
  "stats": { roomId: string; sessionId: string; participantId: string; report: Record<string, unknown>; at: string };
  "recording-consent": { roomId: string; sessionId: string; participantId: string; granted: boolean; at: string };
  "recording-started": { roomId: string; sessionId: string; recordingId: string; participantId: string; at: string };
  "recording-stopped": { roomId: string; sessionId: string; recordingId: string; participantId: string; at: string };
  "recording-ready": { roomId: string; sessionId: string; recordingId: string; status: string; at: string };
  "summary-ready": { roomId: string; sessionId: string; at: string };
  "error": { roomId: string; error: string; message: string; at: string };
}
export type DomainEventName = keyof DomainEvents;

export class EventBus {
  private readonly emitter = new EventEmitter({ captureRejections: false });
  constructor(private readonly onListenerError: (event: string, err: unknown) => void = () => {}) {
    this.emitter.setMaxListeners(100);
  }

  emit<K extends DomainEventName>(name: K, payload: DomainEvents[K]): void {
    // A listener that throws must not break the emitter's caller (often the relay path).
    for (const l of this.emitter.listeners(name)) {
      try {
        (l as (p: DomainEvents[K]) => void)(payload);
      } catch (err) {
        this.onListenerError(name, err);
      }
    }
    for (const l of this.emitter.listeners("*")) {
      try {
        (l as (n: string, p: unknown) => void)(name, payload);
      } catch (err) {
        this.onListenerError(name, err);
      }
    }
  }

  on<K extends DomainEventName>(name: K, listener: (payload: DomainEvents[K]) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }

  /** Every event, with its name (for /events sockets and webhooks). */
  onAny(listener: <K extends DomainEventName>(name: K, payload: DomainEvents[K]) => void): () => void {
    this.emitter.on("*", listener);
    return () => this.emitter.off("*", listener);
  }
}
