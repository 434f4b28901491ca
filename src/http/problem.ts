import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * An error that becomes an RFC 9457 problem+json answer. `code` is the stable
 * machine-readable reason clients branch on; `detail` is for people.
 */
export class HttpProblem extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    readonly detail: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
  }
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  410: "Gone",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export function problemBody(status: number, code: string, detail: string, extra: Record<string, unknown> = {}) {
  return {
    type: `https://parley.dev/problems/${code}`,
    title: TITLES[status] ?? "Error",
    status,
    detail,
    code,
    ...extra,
  };
}

export function problem(c: Context, p: HttpProblem): Response {
  return c.body(JSON.stringify(problemBody(p.status, p.code, p.detail, p.extra)), p.status, {
    "content-type": "application/problem+json",
  });
}

export const notFound = (what: string, id: string) => new HttpProblem(404, `${what}_not_found`, `No ${what} with id "${id}".`);
