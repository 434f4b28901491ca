#!/usr/bin/env node
// `npx parley`, `npm link` and the Docker image: the TypeScript entry run through tsx
// (a dependency), exactly what `npm start` does. The single executable bundles src/ instead.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
