// A Migration to a destination whose agent serves its data port in plaintext (--data-plaintext):
// nothing changes on the ClusterPair or the worker, the source agent learns the scheme from the
// destination's /v1/info, and the volume arrives byte for byte through the plaintext port.
import { jest } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { describeTree, prng } from '../agents/trees.js';
import { migrationYaml, shopYaml } from '../fixtures/apps/shop.js';
import { startDrWorld, type DrWorld } from '../harness/dr-world.js';

jest.setTimeout(180_000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let world: DrWorld;
const NS = 'plain';
const VOLUME = 'plain-data';

beforeAll(async () => {
  world = await startDrWorld('plaintext', { destinationAgentArgs: ['--data-plaintext'] });
  const src = world.agents.source;
  await src.client().createVolume(VOLUME);
  const vol = src.volumePath(VOLUME);
  fs.mkdirSync(path.join(vol, 'db'), { recursive: true });
  fs.writeFileSync(path.join(vol, 'db', 'table.dat'), prng(8 * 1024 * 1024, 'plain-table'));
  fs.writeFileSync(path.join(vol, 'db', 'wal.log'), 'first\n');
  await world.kubectl('source', ['apply', '-f', '-'], shopYaml(NS, { volumePath: vol, pv: 'pv-plain-data' }));
  await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(NS, 'remote'));
});

afterAll(async () => {
  await world?.stop();
});

/** The destination agent's requests answered on its data port, from its /metrics. */
async function dataPortRequests(): Promise<number> {
  const client = world.agents.destination.client();
  try {
    const text = await client.metrics();
    let n = 0;
    for (const m of text.matchAll(/^ferry_agent_http_requests_total\{([^}]*)\} (\S+)$/gm))
      if (m[1]!.includes('server="data"')) n += Number(m[2]);
    return n;
  } finally {
    client.close();
  }
}

describe('a Migration to a plaintext data port', () => {
  it('moves the volume byte for byte through the data port, with nothing set on the ClusterPair', async () => {
    const dst = world.agents.destination;
    expect(dst.dataUrl.startsWith('http://')).toBe(true);
    const before = await dataPortRequests();
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(NS, 'first', { clusterPair: 'remote', namespaces: [NS] }),
    );
    const status = (await world.waitForMigration(NS, 'first'))['status'] as Obj;
    expect(status.reason ?? '').toBe('');
    expect(status.status).toBe('Successful');
    expect(status.volumes).toEqual([
      expect.objectContaining({ volume: VOLUME, status: 'Successful', replicationKind: 'full' }),
    ]);
    expect(describeTree(dst.standbyPath(VOLUME))).toEqual(
      describeTree(world.agents.source.volumePath(VOLUME)),
    );
    expect((await dataPortRequests()) - before).toBeGreaterThan(0);
  });
});
