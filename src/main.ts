import { runCli } from "./cli/index.js";

// `npm start`, `node bin/parley.mjs`, the Docker image and the single executable all enter here.
void runCli(process.argv.slice(2));
