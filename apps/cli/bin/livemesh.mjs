#!/usr/bin/env node
// The `livemesh` command. A committed shim, so that `npm ci` on a fresh clone can link the bin
// before the TypeScript has been built; the command itself is apps/cli/dist/main.js.
import '../dist/main.js';
