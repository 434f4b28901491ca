import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { publicDir } from "../runtime.js";

/**
 * Reads files under public/ (through runtime.ts, which knows where they are
 * from source, from the bundle and inside the single executable).
 */
export interface PublicAsset {
  body: Uint8Array;
  etag: string;
  /** Short content hash, used as `?v=` so a changed bundle is fetched at once. */
  version: string;
}

const cache = new Map<string, { mtimeMs: number; asset: PublicAsset }>();

/** `rel` must already be a safe relative path (see `safeAssetPath`). Undefined when absent. */
export async function readPublicAsset(dataDir: string, rel: string): Promise<PublicAsset | undefined> {
  const file = join(publicDir(dataDir), rel);
  let mtimeMs: number;
  try {
    const s = await stat(file);
    if (!s.isFile()) return undefined;
    mtimeMs = s.mtimeMs;
  } catch {
    return undefined;
  }
  // Cached by mtime: `npm run build:client` while the server runs is picked up on the next request.
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === mtimeMs) return hit.asset;
  const body = await readFile(file);
  const hash = createHash("sha256").update(body).digest("base64url");
  const asset = { body, etag: `"${hash.slice(0, 27)}"`, version: hash.slice(0, 10) };
  cache.set(file, { mtimeMs, asset });
  return asset;
}

/** Only plain relative paths: letters, digits, `._-/`, no `..`, no leading dot segments. */
export function safeAssetPath(rel: string): string | undefined {
  if (!/^[A-Za-z0-9_\-][A-Za-z0-9._\-/]*$/.test(rel) || rel.length > 200) return undefined;
  if (rel.split("/").some((seg) => seg === "" || seg.startsWith("."))) return undefined;
  return rel;
}

const TYPES: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  html: "text/html; charset=utf-8",
  json: "application/json",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  webmanifest: "application/manifest+json",
  woff2: "font/woff2",
  txt: "text/plain; charset=utf-8",
};

export function contentType(rel: string): string {
  return TYPES[rel.slice(rel.lastIndexOf(".") + 1).toLowerCase()] ?? "application/octet-stream";
}
