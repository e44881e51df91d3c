// The PostgreSQL sample (deploy/samples/postgres.yaml) on a local cluster with a node: a
// StatefulSet whose PV is a volume of the cluster's agent, a writer inserting a row a second into
// `orders`, and the Rule `postgres-checkpoint` that checkpoints before a snapshot. Shared by
// `npm run up`, `npm run drill` and the tests.
//
//   const pg = postgresOn(kubectl, kubeconfigPath, 'postgres');
//   await pg.ready(); await pg.sql('SELECT count(*) FROM orders');   // "42"
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { applyFile } from './apply.js';
import { repoRoot } from './paths.js';

const run = promisify(execFile);

export const SAMPLE_NAMESPACE = 'postgres';
export const SAMPLE_VOLUME = 'postgres-data-0';

/** The sample's YAML for namespace `ns`, its PV named `volume` under the agent's `volumeRoot`. */
export async function postgresSampleYaml(ns: string, volume: string, volumeRoot: string): Promise<string> {
  const text = await readFile(path.join(repoRoot(), 'deploy', 'samples', 'postgres.yaml'), 'utf8');
  return text
    .replace('kind: Namespace\nmetadata:\n  name: postgres', `kind: Namespace\nmetadata:\n  name: ${ns}`)
    .replaceAll('namespace: postgres', `namespace: ${ns}`)
    .replaceAll(SAMPLE_VOLUME, volume)
    .replaceAll('/var/lib/ferry/volumes', volumeRoot);
}

/** Applies the sample to a cluster; returns what kubectl applied. */
export async function applyPostgresSample(opts: {
  kubeconfig: string;
  dir: string;
  volumeRoot: string;
  namespace?: string;
  volume?: string;
}): Promise<string[]> {
  const file = path.join(opts.dir, `postgres-sample-${opts.namespace ?? SAMPLE_NAMESPACE}.yaml`);
  await writeFile(
    file,
    await postgresSampleYaml(
      opts.namespace ?? SAMPLE_NAMESPACE,
      opts.volume ?? SAMPLE_VOLUME,
      opts.volumeRoot,
    ),
  );
  return applyFile(opts.kubeconfig, file);
}

export interface PostgresHandle {
  /** Runs SQL in postgres-0 through kubectl exec; its unaligned, tuples-only output. */
  sql(query: string): Promise<string>;
  /** Resolves once postgres-0 answers a query (within `timeoutMs`). */
  ready(timeoutMs?: number): Promise<void>;
  /** Resolves with the row count of `orders` once the writer has put at least `min` there. */
  orders(min: number, timeoutMs?: number): Promise<number>;
  /** Resolves once no pod postgres-0 exists any more (after a scale to 0). */
  gone(timeoutMs?: number): Promise<void>;
}

export function postgresOn(kubectl: string, kubeconfig: string, ns: string): PostgresHandle {
  const k = (args: string[]) =>
    run(kubectl, ['--kubeconfig', kubeconfig, '-n', ns, ...args], { timeout: 30_000 });
  const sql = async (query: string) =>
    (
      await k([
        'exec',
        'postgres-0',
        '-c',
        'postgres',
        '--',
        'psql',
        '-h',
        '/tmp',
        '-U',
        'postgres',
        '-tAc',
        query,
      ])
    ).stdout.trim();
  const poll = async (what: string, timeoutMs: number, done: () => Promise<boolean>) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await done().catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs / 1000} s (${kubeconfig})`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  return {
    sql,
    ready: (timeoutMs = 120_000) =>
      poll(`postgres-0 in ${ns} answering`, timeoutMs, async () => (await sql('SELECT 1')) === '1'),
    orders: async (min, timeoutMs = 120_000) => {
      let n = 0;
      await poll(`${min} rows in ${ns}'s orders`, timeoutMs, async () => {
        n = Number(await sql('SELECT count(*) FROM orders'));
        return n >= min;
      });
      return n;
    },
    gone: (timeoutMs = 120_000) =>
      poll(`postgres-0 in ${ns} gone`, timeoutMs, async () => {
        const { stdout } = await k(['get', 'pods', '-o', 'name']);
        return !stdout.split('\n').includes('pod/postgres-0');
      }),
  };
}
