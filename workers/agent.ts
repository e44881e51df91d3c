// `ferry agent`: the storage agent process (datapath/agent/server.ts).
//
//   ferry agent --data-root DIR --token-file FILE --tls-cert FILE --tls-key FILE
//               [--listen 127.0.0.1] [--port 9001] [--data-port 9010] [--retain 3]
//               [--snapshot-retain 2] [--fsync] [--no-compress] [--max-file-size BYTES]
//               [--max-entries N] [--max-manifest-bytes BYTES] [--max-batch-bytes BYTES]
//               [--session-idle-ms MS] [--confirm-window-ms MS] [--hash blake3|sha256]
//               [--data-plaintext]
//
// Ports may be 0 (ephemeral). When both servers listen it prints exactly one line to stdout:
//   {"ready":true,"pid":…,"port":…,"dataPort":…,"dataScheme":"https","dataRoot":"…","agentId":"…"}
// Logs are JSON lines on stderr. SIGTERM/SIGINT: stop accepting, cancel running replications
// (they resume when started again), exit 0.
import fs from 'node:fs';
import path from 'node:path';
import { Agent } from '../datapath/agent/server.js';
import { jsonLogger } from '../datapath/agent/log.js';
import type { Limits } from '../datapath/protocol/limits.js';
import { HASHES_AVAILABLE, type HashAlgorithm, isHashAvailable } from '../datapath/store/hash.js';

export const AGENT_USAGE = `usage: ferry agent --data-root DIR --token-file FILE --tls-cert FILE --tls-key FILE
       [--listen 127.0.0.1] [--port 9001] [--data-port 9010] [--retain 3] [--snapshot-retain 2]
       [--fsync] [--no-compress] [--max-file-size BYTES] [--max-entries N]
       [--max-manifest-bytes BYTES] [--max-batch-bytes BYTES] [--session-idle-ms MS]
       [--confirm-window-ms MS]   how long a Migration's replication waits for its transfer
                                  step before it is cancelled (default 300000)
       [--hash blake3|sha256]   hash of new volumes' chunks (default blake3 where available)
       [--data-plaintext]       serve the data port over plain HTTP, for links already
                                encrypted below (WireGuard, IPsec): chunk bytes cross
                                unencrypted; the control port and its token stay on TLS`;

export interface AgentFlags {
  dataRoot: string;
  tokenFile: string;
  tlsCert: string;
  tlsKey: string;
  listen: string;
  port: number;
  dataPort: number;
  retain: number;
  snapshotRetain: number;
  fsync: boolean;
  compress: boolean;
  limits: Partial<Limits>;
  sessionIdleMs: number;
  confirmWindowMs: number;
  hash?: HashAlgorithm;
  dataPlaintext: boolean;
}

export function parseAgentFlags(argv: string[]): AgentFlags {
  const values = new Map<string, string>();
  const bools = new Set<string>();
  const valued = [
    'data-root',
    'token-file',
    'tls-cert',
    'tls-key',
    'listen',
    'port',
    'data-port',
    'retain',
    'snapshot-retain',
    'max-file-size',
    'max-entries',
    'max-manifest-bytes',
    'max-batch-bytes',
    'session-idle-ms',
    'confirm-window-ms',
    'hash',
  ];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    let name = arg.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (name === 'fsync' || name === 'no-compress' || name === 'data-plaintext') {
      if (value !== undefined) throw new Error(`--${name} takes no value (got ${JSON.stringify(value)})`);
      bools.add(name);
      continue;
    }
    if (!valued.includes(name)) throw new Error(`unknown flag --${name}`);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
    }
    values.set(name, value);
  }
  const need = (n: string): string => {
    const v = values.get(n);
    if (!v) throw new Error(`--${n} is required`);
    return v;
  };
  const int = (n: string, dflt: number, min = 0, max = Number.MAX_SAFE_INTEGER): number => {
    const v = values.get(n);
    if (v === undefined) return dflt;
    const x = Number(v);
    if (!Number.isSafeInteger(x) || x < min || x > max)
      throw new Error(`--${n} ${JSON.stringify(v)}: must be an integer in ${min}..${max}`);
    return x;
  };
  const limits: Partial<Limits> = {};
  if (values.has('max-file-size')) limits.maxFileSize = int('max-file-size', 0, 0);
  if (values.has('max-entries')) limits.maxEntries = int('max-entries', 0, 1);
  if (values.has('max-manifest-bytes')) limits.maxManifestBytes = int('max-manifest-bytes', 0, 1024);
  if (values.has('max-batch-bytes')) limits.maxBatchBytes = int('max-batch-bytes', 0, 1024 * 1024);
  const hash = values.get('hash');
  if (hash !== undefined && !isHashAvailable(hash))
    throw new Error(
      `--hash ${JSON.stringify(hash)}: must be one of ${HASHES_AVAILABLE.join(', ')} on this machine`,
    );
  return {
    dataRoot: path.resolve(need('data-root')),
    tokenFile: need('token-file'),
    tlsCert: need('tls-cert'),
    tlsKey: need('tls-key'),
    listen: values.get('listen') ?? '127.0.0.1',
    port: int('port', 9001, 0, 65535),
    dataPort: int('data-port', 9010, 0, 65535),
    retain: int('retain', 3, 1, 1000),
    snapshotRetain: int('snapshot-retain', 2, 1, 1000),
    fsync: bools.has('fsync'),
    compress: !bools.has('no-compress'),
    limits,
    sessionIdleMs: int('session-idle-ms', 600_000, 1000),
    confirmWindowMs: int('confirm-window-ms', 300_000, 1000),
    ...(hash !== undefined ? { hash: hash as HashAlgorithm } : {}),
    dataPlaintext: bools.has('data-plaintext'),
  };
}

export async function agentMain(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${AGENT_USAGE}\n`);
    return 0;
  }
  let flags: AgentFlags;
  try {
    flags = parseAgentFlags(argv);
  } catch (err) {
    process.stderr.write(`ferry agent: ${(err as Error).message}\n${AGENT_USAGE}\n`);
    return 2;
  }
  const log = jsonLogger();
  let token: string;
  let tlsCert: Buffer;
  let tlsKey: Buffer;
  try {
    token = (await readFlagFile('--token-file', flags.tokenFile)).toString('utf8').trim();
    tlsCert = await readFlagFile('--tls-cert', flags.tlsCert);
    tlsKey = await readFlagFile('--tls-key', flags.tlsKey);
  } catch (err) {
    process.stderr.write(`ferry agent: ${(err as Error).message}\n`);
    return 2;
  }
  if (!token) {
    process.stderr.write(`ferry agent: --token-file ${flags.tokenFile}: the file is empty\n`);
    return 2;
  }
  const agent = await Agent.start({
    dataRoot: flags.dataRoot,
    host: flags.listen,
    port: flags.port,
    dataPort: flags.dataPort,
    token,
    tlsCert,
    tlsKey,
    retain: flags.retain,
    snapshotRetain: flags.snapshotRetain,
    fsync: flags.fsync,
    compress: flags.compress,
    limits: flags.limits,
    sessionIdleMs: flags.sessionIdleMs,
    confirmWindowMs: flags.confirmWindowMs,
    ...(flags.hash ? { hash: flags.hash } : {}),
    dataPlaintext: flags.dataPlaintext,
    log,
  });
  const info = agent.info();
  log('info', 'agent ready', {
    port: agent.port,
    dataPort: agent.dataPort,
    dataScheme: info.dataScheme,
    dataRoot: flags.dataRoot,
    listen: flags.listen,
  });
  process.stdout.write(
    `${JSON.stringify({ ready: true, pid: process.pid, port: agent.port, dataPort: agent.dataPort, dataScheme: info.dataScheme, dataRoot: flags.dataRoot, agentId: info.agentId })}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (sig: string): void => {
      log('info', 'agent stopping', { signal: sig });
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await agent.close();
  log('info', 'agent stopped');
  return 0;
}

/** Reads the file a flag names; an error names the flag, the path and the reason. */
async function readFlagFile(flag: string, file: string): Promise<Buffer> {
  try {
    return await fs.promises.readFile(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new Error(`${flag} ${file}: ${why}`);
  }
}
