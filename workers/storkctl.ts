#!/usr/bin/env node
// `storkctl`: the same client CLI as `ferry`, under Stork's name, for muscle memory and scripts.
import { runCli } from '../client/cli/main.js';

runCli(process.argv.slice(2), { program: 'storkctl' }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`storkctl: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
