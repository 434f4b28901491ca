// `npm run build:binary`: dist/parley, one self-contained executable for this
// platform (Node's single executable applications). The server is bundled by
// esbuild into one CommonJS file (SEA runs CommonJS on Node 20); migrations,
// public/ and better-sqlite3's native addon ride along as SEA assets, which
// src/runtime.ts writes out once to <dataDir>/.cache/<hash>/.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const out = join(dist, "parley");
const started = Date.now();
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 20 || (major === 20 && minor < 12)) throw new Error(`building the executable needs Node >= 20.12 (node:sea assets); this is ${process.version}`);

mkdirSync(dist, { recursive: true });

// 1. One CommonJS file. import.meta.url becomes the bundle's own file URL (runtime.ts relies on it).
const bundle = join(dist, "parley.cjs");
await build({
  entryPoints: [join(root, "src/main.ts")],
  outfile: bundle,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
  define: {
    "import.meta.url": "__parley_import_meta_url",
    __PARLEY_BUNDLE__: JSON.stringify({ version: pkg.version }),
  },
  banner: { js: 'var __parley_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  plugins: [fromDisk(["bufferutil", "utf-8-validate", "@zoom/rtms", "pino-pretty"])],
});

/**
 * Optional packages that are not bundled: ws's native speed-ups and the Zoom
 * SDK (a native addon, loaded lazily; absent, RTMS answers a clear error).
 * Inside the executable the plain require() only loads built-ins (and warns
 * on anything else), so these resolve from the executable's folder instead:
 * not found there, the callers' own fallbacks apply.
 */
function fromDisk(names) {
  return {
    name: "from-disk",
    setup(b) {
      const filter = new RegExp(`^(${names.map((n) => n.replace(/[/.@-]/g, "\\$&")).join("|")})(/.*)?$`);
      b.onResolve({ filter }, (a) => ({ path: a.path, namespace: "from-disk" }));
      b.onLoad({ filter: /.*/, namespace: "from-disk" }, (a) => ({
        contents: `module.exports = require("node:module").createRequire(process.execPath)(${JSON.stringify(a.path)});`,
        loader: "js",
      }));
    },
  };
}

// 2. The assets, each with its hash; the manifest's own hash names the cache folder.
const files = [];
const add = (path, file) => files.push({ key: path, path, file });
const walk = (dir) => (existsSync(dir) ? readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)])) : []);
for (const f of walk(join(root, "migrations"))) add(relative(root, f), f);
for (const f of walk(join(root, "public"))) add(relative(root, f), f);
const addon = join(root, "node_modules/better-sqlite3/build/Release/better_sqlite3.node");
if (!existsSync(addon)) throw new Error(`${addon} is missing: run npm install first`);
add("better_sqlite3.node", addon);
const sha = (b) => createHash("sha256").update(b).digest("hex");
const entries = files.map((f) => ({ key: f.key, path: f.path, sha256: sha(readFileSync(f.file)) }));
const manifest = { hash: sha(entries.map((e) => `${e.path}:${e.sha256}`).join("\n")).slice(0, 16), files: entries };
const manifestFile = join(dist, "sea-manifest.json");
writeFileSync(manifestFile, JSON.stringify(manifest));

const seaConfig = join(dist, "sea-config.json");
const blob = join(dist, "sea-prep.blob");
writeFileSync(
  seaConfig,
  JSON.stringify(
    {
      main: bundle,
      output: blob,
      disableExperimentalSEAWarning: true,
      // V8's compiled code for the bundle, so start-up skips most parsing.
      useCodeCache: true,
      assets: { "manifest.json": manifestFile, ...Object.fromEntries(files.map((f) => [f.key, f.file])) },
    },
    null,
    2,
  ),
);
run(process.execPath, ["--experimental-sea-config", seaConfig]);

// 3. A copy of this node binary, without its debug sections, with the blob injected.
rmSync(out, { force: true });
copyFileSync(process.execPath, out);
chmodSync(out, 0o755);
try {
  execFileSync("strip", ["--strip-debug", out], { stdio: "ignore" });
} catch {
  // No binutils: the executable is only larger.
}
// LIEF warns about the unnamed note sections of Debian's node; harmless, so output is shown only on failure.
run(process.execPath, [join(root, "node_modules/postject/dist/cli.js"), out, "NODE_SEA_BLOB", blob, "--sentinel-fuse", "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"]);
for (const f of [blob, seaConfig, manifestFile]) rmSync(f, { force: true });

function run(cmd, args) {
  try {
    execFileSync(cmd, args, { stdio: "pipe" });
  } catch (err) {
    process.stderr.write(String(err.stdout ?? "") + String(err.stderr ?? ""));
    throw new Error(`${relative(root, args[0] ?? cmd)} failed`);
  }
}

const mb = (statSync(out).size / 1024 / 1024).toFixed(1);
console.log(`built ${relative(process.cwd(), out) || out}: ${mb} MB, ${files.length} embedded files, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
