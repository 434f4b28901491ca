import { loadConfig, type Config } from "../config.js";

/**
 * The configuration for commands that only read (doctor, backup): the same
 * validation as the server, but without generating and writing secrets into a
 * data dir that may not be the right one yet.
 */
export function configWithoutNewSecrets(env: NodeJS.ProcessEnv): Config {
  const placeholder = "unused-by-this-command-000000";
  return loadConfig({
    ...env,
    PARLEY_API_KEY: env.PARLEY_API_KEY || placeholder,
    PARLEY_JWT_SECRET: env.PARLEY_JWT_SECRET || placeholder,
    PARLEY_TURN_SECRET: env.PARLEY_TURN_SECRET || placeholder,
  });
}

/** Wrong arguments: printed as one line with exit code 2. */
export class UsageError extends Error {}
