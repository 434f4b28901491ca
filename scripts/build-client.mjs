// Bundles the browser code (src/client) into public/app with esbuild.
// Runs in `postinstall` and before `npm test`, so a fresh clone serves a
// working page after `npm install && npm start`.
//
// Another page adds its bundle with one line in ENTRIES.
import { build } from "esbuild";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "public", "app");

/** Each entry becomes public/app/<name>.js (and <name>.css when it imports CSS). */
export const ENTRIES = [
  { name: "call", entry: "src/client/call/main.ts", budgetGzipKb: 150 },
  { name: "console", entry: "src/client/console/main.ts", budgetGzipKb: 150 },
];

/**
 * zod's namespace re-exports every locale (~150 KB minified) although the
 * browser only ever formats English messages: serve just `en` there.
 */
const zodEnglishOnly = {
  name: "zod-english-only",
  setup(b) {
    b.onResolve({ filter: /locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${"node_modules"}/zod/`) ? { path: "zod-locales", namespace: "zod-locales" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-locales" }, () => ({
      contents: `export { default as en } from ${JSON.stringify(join(root, "node_modules/zod/v4/locales/en.js"))};`,
      resolveDir: root,
    }));
  },
};

async function bundle({ name, entry, budgetGzipKb }) {
  const result = await build({
    entryPoints: { [name]: join(root, entry) },
    outdir,
    bundle: true,
    minify: true,
    sourcemap: false,
    format: "iife",
    target: ["chrome100", "firefox100", "safari15"],
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
    plugins: [zodEnglishOnly],
  });
  const lines = [];
  for (const file of Object.keys(result.metafile.outputs)) {
    const bytes = readFileSync(join(root, file));
    const gz = gzipSync(bytes, { level: 9 }).length;
    lines.push({ file: relative(root, join(root, file)), kb: bytes.length / 1024, gzKb: gz / 1024 });
  }
  for (const l of lines) console.log(`client: ${l.file.padEnd(24)} ${l.kb.toFixed(1).padStart(7)} KB  ${l.gzKb.toFixed(1).padStart(6)} KB gzipped`);
  const js = lines.find((l) => l.file.endsWith(".js"));
  if (js && js.gzKb > budgetGzipKb) throw new Error(`${js.file} is ${js.gzKb.toFixed(1)} KB gzipped, over its ${budgetGzipKb} KB budget`);
  return lines;
}

mkdirSync(outdir, { recursive: true });
const report = [];
for (const e of ENTRIES) report.push(...(await bundle(e)));
writeFileSync(join(outdir, "sizes.json"), JSON.stringify(report, null, 2) + "\n");
