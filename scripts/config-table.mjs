// Writes the README's configuration table from CONFIG_VARIABLES (src/config.ts),
// the same list `parley --help` prints, so the two cannot drift.
// Run: node --import tsx scripts/config-table.mjs   (test/cli.test.ts checks it is current)
import { readFileSync, writeFileSync } from "node:fs";
import { CONFIG_VARIABLES } from "../src/config.ts";

export function configTable() {
  const cell = (s) => s.replace(/\|/g, "\\|");
  const rows = CONFIG_VARIABLES.map(([name, def, meaning]) => `| \`${name}\` | ${def === "-" ? "—" : `\`${cell(def)}\``} | ${cell(meaning)} |`);
  return ["| variable | default | meaning |", "|---|---|---|", ...rows].join("\n");
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop())) {
  const file = new URL("../README.md", import.meta.url);
  const readme = readFileSync(file, "utf8");
  const next = readme.replace(/(<!-- config-table:start -->\n)[\s\S]*?(<!-- config-table:end -->)/, `$1${configTable()}\n$2`);
  writeFileSync(file, next);
  console.log(next === readme ? "README configuration table already current" : "README configuration table updated");
}
