import { ConfigError } from "../config.js";
import { appVersion } from "../runtime.js";
import { backup } from "./backup.js";
import { createRoomCommand } from "./createRoom.js";
import { doctor } from "./doctor.js";
import { helpText } from "./help.js";
import { serve } from "./serve.js";
import { UsageError } from "./shared.js";

/**
 * `parley [command]`: one entry for `npm start`, the single executable and
 * the Docker image. Exit codes: 0 done, 1 a problem found or the work
 * failed, 2 a usage or configuration error.
 */
export async function runCli(argv: string[]): Promise<void> {
  const [command = "serve", ...rest] = argv;
  try {
    switch (command) {
      case "serve":
        return await serve();
      case "--version":
      case "-v":
      case "version":
        process.stdout.write(`parley ${appVersion()}\n`);
        return;
      case "--help":
      case "-h":
      case "help":
        process.stdout.write(helpText());
        return;
      case "doctor":
        process.exitCode = await doctor(process.env, process.stdout);
        return;
      case "backup":
        process.exitCode = await backup(rest, process.env, process.stdout);
        return;
      case "create-room":
        process.exitCode = createRoomCommand(rest, process.env, process.stdout);
        return;
      default:
        process.stderr.write(`parley: unknown command "${command}"; run "parley --help" for the commands and settings\n`);
        process.exitCode = 2;
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`parley: invalid configuration: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`parley ${command}: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`parley ${command}: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
