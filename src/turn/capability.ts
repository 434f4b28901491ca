import type { AppContext } from "../context.js";
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
