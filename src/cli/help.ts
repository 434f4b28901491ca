import { CONFIG_VARIABLES } from "../config.js";
import { appVersion } from "../runtime.js";

/** `parley --help`: the commands, then every setting from CONFIG_VARIABLES with its default. */
export function helpText(): string {
  const width = Math.max(...CONFIG_VARIABLES.map(([name]) => name.length));
  const defWidth = Math.max(...CONFIG_VARIABLES.map(([, def]) => def.length));
  const rows = CONFIG_VARIABLES.map(([name, def, meaning]) => `  ${name.padEnd(width)}  ${def.padEnd(defWidth)}  ${meaning}`);
  return `Parley ${appVersion()} - self-hosted video calls

Usage:
  parley                   start the server (same as "parley serve")
  parley doctor            check this machine and the configuration, and say what to fix
  parley backup <file>     write a consistent copy of the database (safe while the server runs)
  parley create-room [--title <text>] [--host <name>] [--guest <name>]... [--allow-guests] [--waiting-room] [--json]
                           create a room and print its join links
  parley --version         print the version
  parley --help            this text

Settings are environment variables, all optional:
  ${"variable".padEnd(width)}  ${"default".padEnd(defWidth)}  meaning
${rows.join("\n")}

Reload the TLS certificate without dropping calls: kill -HUP <pid>.
`;
}
