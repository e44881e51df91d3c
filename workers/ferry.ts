#!/usr/bin/env node
// The `ferry` binary. Long-running server roles live in workers/ and are loaded only when asked
// for; every other command is the client CLI (client/cli), which never loads server code.
const [command, ...rest] = process.argv.slice(2);

async function main(): Promise<number> {
  switch (command) {
    case 'agent': {
      const { agentMain } = await import('./agent.js');
      return agentMain(rest);
    }
    case 'worker': {
      const { workerMain } = await import('./worker.js');
      // Exit once stopped: an idle keep-alive socket or a watch must not hold the process open.
      return process.exit(await workerMain(rest));
    }
    case 'codec-server': {
      const { codecServerMain } = await import('./codec-server.js');
      return process.exit(await codecServerMain(rest));
    }
    default: {
      const { runCli } = await import('../client/cli/main.js');
      return runCli(process.argv.slice(2), { program: 'ferry' });
    }
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`ferry: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
