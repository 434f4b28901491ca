import { and, gt, isNotNull } from "drizzle-orm";
import type { AppContext } from "../context.js";
import { participants } from "../db/schema.js";
import type { Capability } from "../server.js";
import { EmbeddedRelay } from "./relay.js";
import { turnRoutes } from "./routes.js";

/** The running embedded relay of a server, for tests and the benchmark (undefined unless PARLEY_TURN=embedded). */
const relays = new WeakMap<AppContext, EmbeddedRelay>();
export function relayOf(ctx: AppContext): EmbeddedRelay | undefined {
  return relays.get(ctx);
}

/**
 * TURN: the credentials route in every mode; in `embedded` mode also the
 * relay, started with the server and stopped before it. `external` issues
 * the same credentials for a coturn with `use-auth-secret`; `off` issues none.
 */
export function turnCapability(ctx: AppContext): Capability {
  let relay: EmbeddedRelay | undefined;
  const unsubscribe: (() => void)[] = [];
  return {
    name: "turn",
    routes: turnRoutes,
    async start() {
      if (ctx.config.turn.mode !== "embedded") return;
      relay = new EmbeddedRelay(ctx.config, ctx.log, ctx.metrics);
      await relay.start();
      relays.set(ctx, relay);
      const r = relay;
      // Removals from before a restart still bind credentials issued before them (they live up to one TTL).
      const since = new Date(Date.now() - ctx.config.turn.ttlSeconds * 1000).toISOString();
      const removed = ctx.db
        .select({ id: participants.id, removedAt: participants.removedAt })
        .from(participants)
        .where(and(isNotNull(participants.removedAt), gt(participants.removedAt, since)))
        .all();
      for (const p of removed) r.revocations.revoke(p.id, Date.parse(p.removedAt!));
      unsubscribe.push(
        ctx.bus.on("participant-removed", (e) => {
          r.revoke(e.participantId, Date.parse(e.at) || Date.now());
        }),
        ctx.bus.on("room-ended", (e) => {
          const at = Date.parse(e.at) || Date.now();
          for (const p of ctx.rooms.participantsOf(e.roomId)) r.revoke(p.id, at);
        }),
      );
    },
    stop() {
      for (const u of unsubscribe.splice(0)) u();
      relay?.stop();
      relays.delete(ctx);
      relay = undefined;
    },
  };
}
