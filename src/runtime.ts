import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Where Parley's own files live. Three ways to run, one answer each:
 * - from source (`npm start`, tests): the repository next to `src/`;
 * - bundled by esbuild (`dist/parley.cjs`): the repository next to `dist/`;
 * - as the single executable (`dist/parley`): everything is embedded as SEA
 *   assets and written out once to `<dataDir>/.cache/<hash>/`, because SQLite
 *   needs its native addon and drizzle its migrations as real files.
 */

/** Set by scripts/build-binary.mjs through esbuild's `define`; absent when running from source. */
declare const __PARLEY_BUNDLE__: { version: string } | undefined;

interface SeaApi {
  isSea(): boolean;
  getAsset(key: string): ArrayBuffer;
  getAsset(key: string, encoding: string): string;
}

/** What the build embeds as the asset `manifest.json`. */
export interface AssetManifest {
  /** sha256 over every asset: the cache folder's name. */
  hash: string;
  files: { key: string; path: string; sha256: string }[];
}

export const SQLITE_ADDON = "better_sqlite3.node";

const nodeRequire = createRequire(process.execPath);

const sea: SeaApi | undefined = (() => {
  try {
    // node:sea exists from Node 20.12; outside a single executable isSea() is false.
    const mod = nodeRequire("node:sea") as SeaApi;
    return mod.isSea() ? mod : undefined;
  } catch {
    return undefined;
  }
})();

/** True inside the single executable built by `npm run build:binary`. */
export function isSea(): boolean {
  return sea !== undefined;
}

const bundled = typeof __PARLEY_BUNDLE__ !== "undefined";

/** The repository root (source and bundle modes). */
export function rootDir(): string {
  // src/runtime.ts from source; in the bundle import.meta.url is defined as dist/parley.cjs: ".." is the root in both.
  return resolve(dirname(fileURLToPath(import.meta.url)), "..");
}

export function appVersion(): string {
  if (bundled) return __PARLEY_BUNDLE__!.version;
  try {
    return (JSON.parse(readFileSync(join(rootDir(), "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return process.env.PARLEY_VERSION ?? "0.0.0";
  }
}

let manifest: AssetManifest | undefined;
function assetManifest(): AssetManifest {
  manifest ??= JSON.parse(sea!.getAsset("manifest.json", "utf8")) as AssetManifest;
  return manifest;
}

const extracted = new Map<string, string>();

/**
 * Writes the embedded files to `<dataDir>/.cache/<hash>/` once (into a
 * temporary folder renamed into place, so a crash mid-way never leaves half a
 * cache) and returns that folder. Later starts only check the addon's hash.
 */
function extractAssets(dataDir: string): string {
  const m = assetManifest();
  const key = resolve(dataDir);
  const known = extracted.get(key);
  if (known) return known;
  const cacheRoot = join(key, ".cache");
  const dir = join(cacheRoot, m.hash);
  const addon = m.files.find((f) => f.path === SQLITE_ADDON);
  const intact = existsSync(join(dir, ".complete")) && (!addon || sha256(readFileSync(join(dir, SQLITE_ADDON))) === addon.sha256);
  if (!intact) {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    for (const f of m.files) {
      const bytes = Buffer.from(sea!.getAsset(f.key));
      if (sha256(bytes) !== f.sha256) throw new Error(`embedded file ${f.path} is corrupt (hash mismatch); download parley again`);
      const target = join(tmp, f.path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, bytes, { mode: f.path === SQLITE_ADDON ? 0o755 : 0o644 });
    }
    writeFileSync(join(tmp, ".complete"), m.hash + "\n");
    rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // Another parley process (a backup beside the server) finished the same extraction first: use that one.
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(join(dir, ".complete"))) throw err;
    }
  }
  extracted.set(key, dir);
  return dir;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Folder of the drizzle-kit SQL migrations. */
export function migrationsDir(dataDir: string): string {
  return sea ? join(extractAssets(dataDir), "migrations") : join(rootDir(), "migrations");
}

/**
 * Folder of the static browser files (html, css, the bundled client). Inside
 * the executable it is the copy extracted for the data dir the server opened
 * (the database opens before any request), so call this when serving, not at
 * module load.
 */
export function publicDir(dataDir?: string): string {
  if (!sea) return join(rootDir(), "public");
  if (dataDir) return join(extractAssets(dataDir), "public");
  const last = [...extracted.values()].pop();
  if (!last) throw new Error("publicDir() called before the data dir was opened");
  return join(last, "public");
}

let addonCache: object | undefined;

/**
 * The `nativeBinding` to hand better-sqlite3: undefined from source (its own
 * lookup works), the node_modules copy from the bundle, and the extracted,
 * hash-checked copy inside the single executable.
 */
export function sqliteNativeBinding(dataDir: string): object | string | undefined {
  if (sea) {
    if (!addonCache) {
      const mod = { exports: {} as object };
      process.dlopen(mod, join(extractAssets(dataDir), SQLITE_ADDON));
      addonCache = mod.exports;
    }
    return addonCache;
  }
  if (bundled) return join(rootDir(), "node_modules/better-sqlite3/build/Release", SQLITE_ADDON);
  return undefined;
}
