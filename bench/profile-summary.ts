/**
 * Prints where a V8 CPU profile spent its time: the top functions by self
 * time and by inclusive time (a function plus what it called), with file and
 * line. For the profiles `BENCH_CPU_PROF=<dir> npm run bench:signaling`
 * writes of the Parley server:
 *
 *   npx tsx bench/profile-summary.ts <dir>/<file>.cpuprofile [top=25] [filter]
 *
 * `filter` keeps only functions whose file contains it (e.g. `src/`).
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

const [file, topArg, filter] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: tsx bench/profile-summary.ts <file.cpuprofile> [top] [file filter]\n");
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const totalHits = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
const usPerHit = (profile.endTime - profile.startTime) / Math.max(1, totalHits);

const keyOf = (n: ProfileNode) => {
  const url = n.callFrame.url.replace(/^file:\/\//, "").replace(process.cwd() + "/", "");
  return `${n.callFrame.functionName || "(anonymous)"}  ${url}${url ? ":" + (n.callFrame.lineNumber + 1) : ""}`;
};

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
// Inclusive time: each sample counts once per distinct function on its stack (recursion is not double-counted).
const walk = (id: number, stack: Map<string, number>): number => {
  const n = byId.get(id)!;
  const key = keyOf(n);
  let hits = n.hitCount ?? 0;
  self.set(key, (self.get(key) ?? 0) + hits);
  const depth = stack.get(key) ?? 0;
  stack.set(key, depth + 1);
  for (const c of n.children ?? []) hits += walk(c, stack);
  stack.set(key, depth);
  if (depth === 0) inclusive.set(key, (inclusive.get(key) ?? 0) + hits);
  return hits;
};
walk(profile.nodes[0]!.id, new Map());

const idle = [...self].filter(([k]) => k.startsWith("(idle)") || k.startsWith("(program)")).reduce((s, [, v]) => s + v, 0);
const busy = totalHits - idle;
const print = (title: string, m: Map<string, number>) => {
  process.stdout.write(`\n${title} (% of busy time, ${((busy * usPerHit) / 1e6).toFixed(1)} s busy of ${((totalHits * usPerHit) / 1e6).toFixed(1)} s)\n`);
  const rows = [...m].filter(([k]) => !k.startsWith("(idle)") && !k.startsWith("(root)") && (!filter || k.includes(filter))).sort((a, b) => b[1] - a[1]);
  for (const [k, v] of rows.slice(0, top)) process.stdout.write(`  ${((100 * v) / busy).toFixed(1).padStart(5)} %  ${k}\n`);
};
print("self time", self);
print("inclusive time", inclusive);
