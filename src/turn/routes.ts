import { Hono } from "hono";
import { z } from "zod";
import { requireParticipant } from "../auth/participant.js";
import type { Participant } from "../auth/tokens.js";
import type { AppContext } from "../context.js";
import { HttpProblem } from "../http/problem.js";
import { defineRoute } from "../http/route.js";
import type { RoomRow } from "../rooms/service.js";
import { issueTurnCredential } from "./credentials.js";

const credentialSchema = z.object({
  username: z.string().describe("<expiry>:<participantId>"),
  password: z.string().describe("base64(HMAC-SHA1(secret, username))"),
  ttl: z.number().int().describe("seconds the credential lives"),
  uris: z.array(z.string()).describe("stun:/turn: URIs"),
});

export function turnRoutes(ctx: AppContext): Hono {
  const app = new Hono();
  defineRoute(
    app,
    {
      method: "get",
      path: "/api/turn/credentials",
      summary: "Short-lived TURN credentials (TURN REST API form) for an admitted participant",
      tag: "turn",
      auth: "participant",
      middleware: [requireParticipant(ctx)],
      responses: {
        200: { description: "Credentials and URIs", schema: credentialSchema },
        403: "Not admitted yet (waiting in the lobby) or removed",
        404: "TURN is off on this server (PARLEY_TURN=off)",
      },
    },
    (c) => {
      if (ctx.config.turn.mode === "off") {
        throw new HttpProblem(404, "turn_disabled", "This server hands out no TURN credentials (PARLEY_TURN=off); calls use direct connections only.");
      }
      const participant = c.get("participant") as Participant;
      const room = c.get("room") as RoomRow;
      // Relay capacity is for people in the call, never for someone still waiting in the lobby.
      if (!ctx.live.isAdmitted(room.id, participant.id, participant.role)) {
        throw new HttpProblem(403, "not_admitted", "TURN credentials are issued once the host has admitted you to the call.");
      }
      c.header("Cache-Control", "no-store");
      return c.json(issueTurnCredential(ctx.config, participant.id));
    },
  );
  return app;
}
