import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './paths.js';

const run = promisify(execFile);

export type ServerName =
  | 'temporal'
  | 'temporal-test-server'
  | 'temporal-server'
  | 'temporal-sql-tool'
  | 'etcd'
  | 'kube-apiserver'
  | 'kubectl'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubelet';

/**
 * Paths of the real server binaries, resolved by tools/servers.sh: $FERRY_<NAME>_BIN, then PATH,
 * then the cache, then a build from the registries (which can take minutes the first time; its
 * progress goes to stderr).
 */
export async function resolveBinaries(names: ServerName[]): Promise<Record<ServerName, string>> {
  const script = path.join(repoRoot(), 'tools', 'servers.sh');
  const { stdout } = await run('bash', [script, 'ensure', ...names], {
    maxBuffer: 1 << 20,
    timeout: 60 * 60 * 1000,
  }).catch((err: { stderr?: string; message: string }) => {
    throw new Error(`tools/servers.sh could not provide ${names.join(', ')}: ${err.stderr || err.message}`);
  });
  const out: Partial<Record<ServerName, string>> = {};
  for (const line of stdout.trim().split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq) as ServerName] = line.slice(eq + 1);
  }
  for (const n of names) if (!out[n]) throw new Error(`tools/servers.sh printed no path for ${n}`);
  return out as Record<ServerName, string>;
}

/**
 * The folder of Temporal's PostgreSQL schema files (`temporal/versioned`, `visibility/versioned`)
 * of the pinned server version: $FERRY_TEMPORAL_SCHEMA_DIR, else tools/servers.sh's copy in the cache.
 */
export async function temporalSchemaDir(): Promise<string> {
  const script = path.join(repoRoot(), 'tools', 'servers.sh');
  const { stdout } = await run('bash', [script, 'schema'], { timeout: 10 * 60 * 1000 }).catch(
    (err: { stderr?: string; message: string }) => {
      throw new Error(`tools/servers.sh could not provide Temporal's schema: ${err.stderr || err.message}`);
    },
  );
  return stdout.trim();
}

/** The first line a binary prints about its version, for logs that say what actually ran. */
export async function versionOf(name: ServerName, bin: string): Promise<string> {
  const args = name === 'kubectl' ? ['version', '--client'] : ['--version'];
  if (name === 'temporal-test-server') return path.basename(bin);
  const { stdout, stderr } = await run(bin, args).catch((e: { stdout?: string; stderr?: string }) => ({
    stdout: e.stdout ?? '',
    stderr: e.stderr ?? '',
  }));
  return (stdout || stderr).trim().split('\n')[0] ?? 'unknown';
}
