/**
 * Participants whose TURN credentials stop working now (removed by a host,
 * or their room ended). A TURN username carries only `<expiry>:<participantId>`,
 * not the room, so the relay cannot ask the database on each request; the
 * bus feeds this set instead. A credential is refused when it was issued at
 * or before the revocation: a participant id reused in another room keeps
 * working with credentials issued after that moment.
 */
export class Revocations {
  private readonly revokedAt = new Map<string, number>();

  constructor(private readonly ttlMs: number) {}

  revoke(participantId: string, at = Date.now()): void {
    this.revokedAt.set(participantId, at);
    this.prune(at);
  }

  /** `issuedAt` in ms; credentials carry their expiry, so issuedAt = expiry - ttl. */
  isRevoked(participantId: string, issuedAt: number): boolean {
    const at = this.revokedAt.get(participantId);
    return at !== undefined && issuedAt <= at;
  }

  /** An entry older than one credential lifetime can no longer match a valid credential. */
  private prune(now: number): void {
    for (const [id, at] of this.revokedAt) if (now - at > this.ttlMs) this.revokedAt.delete(id);
  }
}
