import type { Context, Hono, MiddlewareHandler } from "hono";
import { z } from "zod";
import { HttpProblem } from "./problem.js";

type Method = "get" | "post" | "put" | "patch" | "delete";
export type Auth = "apiKey" | "participant" | "apiKeyOrHost" | "none" | "zoomSignature";

export interface RouteSpec<B extends z.ZodType | undefined, Q extends z.ZodType | undefined> {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  auth: Auth;
  body?: B;
  query?: Q;
  /** Status → description (and optionally a schema of the answer). */
  responses: Record<number, string | { description: string; schema?: z.ZodType; contentType?: string }>;
  middleware?: MiddlewareHandler[];
}

interface Input<B, Q> {
  body: B extends z.ZodType ? z.output<B> : undefined;
  query: Q extends z.ZodType ? z.output<Q> : undefined;
}

/** Every route registered through `defineRoute`; `/openapi.json` is built from it. */
const registry: RouteSpec<z.ZodType | undefined, z.ZodType | undefined>[] = [];

/**
 * Registers a handler and its OpenAPI description from one spec, so the
 * schema that validates a request is the one the documentation shows.
 */
export function defineRoute<B extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined>(
  app: Hono<any>,
  spec: RouteSpec<B, Q>,
  handler: (c: Context<any>, input: Input<B, Q>) => Response | Promise<Response>,
): void {
  if (!registry.some((r) => r.method === spec.method && r.path === spec.path)) registry.push(spec as never);
  app.on([spec.method.toUpperCase()], [spec.path], ...(spec.middleware ?? []), async (c) => {
    const body = spec.body ? await readJson(c, spec.body) : undefined;
    const query = spec.query ? parseWith(spec.query, c.req.query(), "invalid_query", "query string") : undefined;
    return handler(c, { body, query } as Input<B, Q>);
  });
}

export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const text = await c.req.text();
  let raw: unknown = {};
  if (text.trim() !== "") {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new HttpProblem(400, "invalid_json", "The request body is not valid JSON.");
    }
  }
  return parseWith(schema, raw, "invalid_body", "request body");
}

export function parseWith<S extends z.ZodType>(schema: S, raw: unknown, code: string, where: string): z.output<S> {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const errors = r.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
  const first = errors[0]!;
  throw new HttpProblem(400, code, `Invalid ${where}: ${first.path ? first.path + ": " : ""}${first.message}`, { errors });
}

const SECURITY: Record<Auth, unknown[] | undefined> = {
  apiKey: [{ apiKey: [] }],
  participant: [{ participantToken: [] }],
  apiKeyOrHost: [{ apiKey: [] }, { participantToken: [] }],
  zoomSignature: [],
  none: [],
};

function jsonSchema(s: z.ZodType, io: "input" | "output"): unknown {
  try {
    return z.toJSONSchema(s, { io, unrepresentable: "any" });
  } catch {
    return {};
  }
}

export function openApiDocument(info: { title: string; version: string; serverUrl: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of registry) {
    const path = r.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
    const params = [...r.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    if (r.query) {
      const qs = jsonSchema(r.query, "input") as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(qs.properties ?? {})) {
        params.push({ name, in: "query", required: Boolean(qs.required?.includes(name)), schema } as never);
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, v] of Object.entries(r.responses)) {
      const d = typeof v === "string" ? { description: v } : v;
      responses[status] = {
        description: d.description,
        ...(d.schema ? { content: { [d.contentType ?? "application/json"]: { schema: jsonSchema(d.schema, "output") } } } : {}),
      };
    }
    responses.default = { description: "Error", content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } } };
    (paths[path] ??= {})[r.method] = {
      summary: r.summary,
      tags: [r.tag],
      security: SECURITY[r.auth],
      parameters: params,
      ...(r.body ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(r.body, "input") } } } } : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: info.title, version: info.version, description: "Parley: self-hosted signaling, TURN credentials, recordings and events for peer-to-peer mesh calls." },
    servers: [{ url: info.serverUrl }],
    components: {
      securitySchemes: {
        apiKey: { type: "http", scheme: "bearer", description: "PARLEY_API_KEY" },
        participantToken: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "Participant token (HS256)" },
      },
      schemas: {
        Problem: {
          type: "object",
          properties: { type: { type: "string" }, title: { type: "string" }, status: { type: "integer" }, detail: { type: "string" }, code: { type: "string" } },
          required: ["type", "title", "status", "code"],
        },
      },
    },
    paths,
  };
}
