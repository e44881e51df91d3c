// Starting real storage agents (`ferry agent`) on loopback for tests, benchmarks and the local
// environment. startAgent creates what is not given (a CA + server certificate, a random token,
// a data root), spawns `node dist/workers/ferry.js agent` on ephemeral ports (or the ports asked
// for) as a ManagedProcess (localenv/process.ts: its own process group, output in a log file),
// waits for its ready line, and registers it with a reaper so it never outlives its starter.
//
//   const a = await startAgent({ dir: '/tmp/run/a' });
//   const client = a.client();                     // AgentClient with token and CA
//   await a.kill(); const a2 = await a.restart();  // same data root, ports, token and certs
//
// Build first (`npx tsc -p tsconfig.build.json`): the agent always runs from dist/.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentClient, type AgentEndpoint, type ClientOptions } from '../datapath/client/client.js';
import { AGENT_NODE_FLAGS } from '../datapath/agent/node-flags.js';
import { startProcess, waitForReadyLine } from './process.js';
import { ownerPidFile, startReaper } from './reaper.js';
import { createCertAuthority, issueCertificate, type CertAuthority } from './tls.js';

export interface StartAgentOptions {
  /** Working directory: data root, certs, token file and log go here unless given. */
  dir: string;
  /** Name used for the certificate and log file (default "agent"). */
  name?: string;
  dataRoot?: string;
  token?: string;
  /** An existing CA to sign the agent's certificate (so several agents share one trust root). */
  ca?: CertAuthority;
  /** Use these PEM files instead of issuing a certificate. */
  tls?: { certPath: string; keyPath: string; caCertPem: string; caCertPath?: string };
  host?: string;
  /** 0 (default) = ephemeral. */
  port?: number;
  dataPort?: number;
  /** Extra `ferry agent` flags, e.g. ['--retain', '2', '--fsync']. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Path of ferry.js (default: dist/workers/ferry.js of this checkout). */
  ferryBin?: string;
  readyTimeoutMs?: number;
}

export interface AgentHandle {
  name: string;
  url: string;
  dataUrl: string;
  port: number;
  dataPort: number;
  token: string;
  tokenFile: string;
  caCertPem: string;
  caCertPath: string;
  ca: CertAuthority | null;
  pid: number;
  logPath: string;
  dataRoot: string;
  /** Path of live volume `name` on this agent. */
  volumePath(name: string): string;
  /** Path of the current standby of `name` on this agent. */
  standbyPath(name: string): string;
  endpoint: AgentEndpoint;
  client(opts?: ClientOptions): AgentClient;
  /** Resolves with the exit code (or null if killed by a signal) once the process exits. */
  exited: Promise<number | null>;
  /** SIGTERM (SIGKILL after 5 s) and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /**
   * Stops the process if running, then starts a new one with the same root, ports, token and
   * certs (and flags, unless `args` replaces the extra ones: an upgrade or a configuration change).
   */
  restart(args?: string[]): Promise<AgentHandle>;
}

/** dist/workers/ferry.js of this checkout, whether this module runs from dist/ or from source. */
export function defaultFerryBin(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const inDist = here.split(path.sep).includes('dist');
  return inDist
    ? path.resolve(here, '..', 'workers', 'ferry.js')
    : path.resolve(here, '..', 'dist', 'workers', 'ferry.js');
}

interface Resolved {
  name: string;
  dataRoot: string;
  token: string;
  tokenFile: string;
  certPath: string;
  keyPath: string;
  caCertPem: string;
  caCertPath: string;
  ca: CertAuthority | null;
  host: string;
  logPath: string;
  ferryBin: string;
  /** The reaper's pid file: the agent is killed if the process that started it dies. */
  pidFile: string;
}

/** Directories whose reaper this process already started (one reaper per directory). */
const reaped = new Set<string>();

export async function startAgent(opts: StartAgentOptions): Promise<AgentHandle> {
  const name = opts.name ?? 'agent';
  const dir = path.resolve(opts.dir);
  await fs.promises.mkdir(dir, { recursive: true });
  const dataRoot = path.resolve(opts.dataRoot ?? path.join(dir, 'data'));
  const token = opts.token ?? crypto.randomBytes(24).toString('base64url');
  const tokenFile = path.join(dir, `${name}.token`);
  await fs.promises.writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  let certPath: string;
  let keyPath: string;
  let caCertPem: string;
  let caCertPath: string;
  let ca: CertAuthority | null = null;
  if (opts.tls) {
    ({ certPath, keyPath, caCertPem } = opts.tls);
    caCertPath = opts.tls.caCertPath ?? path.join(dir, 'ca.crt');
    if (!opts.tls.caCertPath) await fs.promises.writeFile(caCertPath, caCertPem);
  } else {
    ca = opts.ca ?? (await createCertAuthority(path.join(dir, 'ca'), `ferry-agent-ca-${name}`));
    const authority = ca;
    const cert = await issueCertificate(authority, path.join(dir, 'tls'), name, {
      sans: ['127.0.0.1', 'localhost', '::1'],
      usages: ['serverAuth'],
    });
    certPath = cert.certPath;
    keyPath = cert.keyPath;
    caCertPem = ca.certPem;
    caCertPath = ca.certPath;
  }
  const r: Resolved = {
    name,
    dataRoot,
    token,
    tokenFile,
    certPath,
    keyPath,
    caCertPem,
    caCertPath,
    ca,
    host: opts.host ?? '127.0.0.1',
    logPath: path.join(dir, `${name}.log`),
    ferryBin: opts.ferryBin ?? defaultFerryBin(),
    pidFile: ownerPidFile(dir),
  };
  if (!reaped.has(dir)) {
    reaped.add(dir);
    startReaper(process.pid, r.pidFile);
  }
  return spawnAgent(r, opts.port ?? 0, opts.dataPort ?? 0, opts);
}

async function spawnAgent(
  r: Resolved,
  port: number,
  dataPort: number,
  opts: StartAgentOptions,
): Promise<AgentHandle> {
  if (!fs.existsSync(r.ferryBin))
    throw new Error(`${r.ferryBin} not found: build first (npx tsc -p tsconfig.build.json)`);
  // FERRY_AGENT_NODE_FLAGS: node flags for agents (e.g. --cpu-prof --cpu-prof-dir=DIR to profile a benchmark).
  const nodeFlags = (process.env['FERRY_AGENT_NODE_FLAGS'] ?? '').split(/\s+/).filter(Boolean);
  const args = [
    ...AGENT_NODE_FLAGS,
    ...nodeFlags,
    r.ferryBin,
    'agent',
    '--data-root',
    r.dataRoot,
    '--token-file',
    r.tokenFile,
    '--tls-cert',
    r.certPath,
    '--tls-key',
    r.keyPath,
    '--listen',
    r.host,
    '--port',
    String(port),
    '--data-port',
    String(dataPort),
    ...(opts.args ?? []),
  ];
  const proc = startProcess({
    name: `agent(${r.name})`,
    command: process.execPath,
    args,
    logPath: r.logPath,
    env: { ...process.env, ...opts.env },
    pidFile: r.pidFile,
    pipeStdout: true,
  });
  const exited = proc.exited.then((code) => (typeof code === 'number' ? code : null));
  const ready = await waitForReadyLine<{
    ready: boolean;
    port: number;
    dataPort: number;
    dataScheme?: 'https' | 'http';
  }>(proc, opts.readyTimeoutMs ?? 20_000);
  const host = r.host.includes(':') ? `[${r.host}]` : r.host;
  const url = `https://${host}:${ready.port}`;
  const dataUrl = `${ready.dataScheme ?? 'https'}://${host}:${ready.dataPort}`;
  const endpoint: AgentEndpoint = { url, token: r.token, caCertPem: r.caCertPem, dataUrl };
  const handle: AgentHandle = {
    name: r.name,
    url,
    dataUrl,
    port: ready.port,
    dataPort: ready.dataPort,
    token: r.token,
    tokenFile: r.tokenFile,
    caCertPem: r.caCertPem,
    caCertPath: r.caCertPath,
    ca: r.ca,
    pid: proc.pid,
    logPath: r.logPath,
    dataRoot: r.dataRoot,
    volumePath: (v) => path.join(r.dataRoot, 'volumes', v),
    standbyPath: (v) => path.join(r.dataRoot, 'standby', v, 'current'),
    endpoint,
    client: (o) => new AgentClient(endpoint, o),
    exited,
    stop: () => proc.stop(),
    kill: () => proc.kill(),
    restart: async (args) => {
      await proc.stop();
      return spawnAgent(r, ready.port, ready.dataPort, args ? { ...opts, args } : opts);
    },
  };
  return handle;
}
