// Chunk hashes across an upgrade, with two real agents: a volume whose chain began under SHA-256
// (an agent before BLAKE3, here `--hash sha256`) keeps SHA-256 after the source restarts with the
// BLAKE3 default, so its next replications (incremental and full) send only what changed; a new
// volume gets BLAKE3; both standbys equal their sources byte for byte. An upload naming a hash
// the destination cannot check is refused before any chunk is read.
import fs from 'node:fs';
import path from 'node:path';
import { AGENT_NODE_FLAGS } from '../../datapath/agent/node-flags.js';
import type { AgentClient } from '../../datapath/client/client.js';
import type { AgentHandle } from '../../localenv/agents.js';
import { startAgentPair, type AgentPair } from './pair.js';
import { describeTree, prng, sleep } from './trees.js';

let pair: AgentPair;
let src: AgentHandle;
let sc: AgentClient;

beforeAll(async () => {
  pair = await startAgentPair('hash', { srcArgs: ['--hash', 'sha256'] });
  ({ src, sc } = pair);
});

afterAll(async () => {
  sc?.close();
  await src?.stop();
  await pair?.stop();
});

async function replicate(volume: string, full?: boolean) {
  const s = await sc.replicate({
    volume,
    destination: pair.destination(),
    mode: 'DisasterRecovery',
    ...(full !== undefined ? { full } : {}),
  });
  expect(s.phase).toBe('succeeded');
  const manifest = await sc.getSnapshotManifest(volume, s.snapshotId as string);
  expect(describeTree(pair.dst.standbyPath(volume))).toEqual(describeTree(src.volumePath(volume)));
  return { s, hash: manifest.hash };
}

async function fill(volume: string, seed: string): Promise<string> {
  const vol = (await sc.createVolume(volume)).path;
  fs.writeFileSync(path.join(vol, 'big.dat'), prng(12 << 20, `${seed}-big`));
  for (let i = 0; i < 20; i++)
    fs.writeFileSync(path.join(vol, `f${i}.txt`), prng(10_000 + i, `${seed}-${i}`));
  await sleep(150); // past the racy margin: unchanged files are not re-read
  return vol;
}

describe('chunk hashes across an agent upgrade', () => {
  it('a SHA-256 volume stays SHA-256 after the upgrade and sends only its changes; a new volume uses BLAKE3', async () => {
    expect((await sc.info()).hash).toBe('sha256');
    const old = await fill('old', 'old');
    expect((await replicate('old')).hash).toBe('sha256');

    // the upgrade: same data, the default hash
    src = await src.restart([]);
    sc.close();
    sc = src.client();
    const info = await sc.info();
    expect(info.hash).toBe('blake3');
    expect([...info.hashes].sort()).toEqual(['blake3', 'sha256']);

    fs.writeFileSync(path.join(old, 'added.txt'), prng(50_000, 'added'));
    await sleep(150);
    const inc = await replicate('old');
    expect(inc.hash).toBe('sha256');
    expect(inc.s.bytesOnWire).toBeLessThan(1 << 20); // 50 kB of changes and a manifest delta
    const full = await replicate('old', true);
    expect(full.hash).toBe('sha256');
    expect(full.s.kind).toBe('full');
    expect(full.s.bytesOnWire).toBeLessThan(2 << 20); // every chunk re-read, none re-sent

    await fill('new', 'new');
    const fresh = await replicate('new');
    expect(fresh.hash).toBe('blake3');
    expect(fresh.s.bytesOnWire).toBeGreaterThan(12 << 20); // nothing shared with 'old'
  });

  it('runs the agents with their node flags (datapath/agent/node-flags.ts)', () => {
    for (const pid of [src.pid, pair.dst.pid]) {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      for (const flag of AGENT_NODE_FLAGS) expect(argv).toContain(flag);
    }
  });

  it('refuses an upload naming a hash the destination cannot check, naming the header and value', async () => {
    const up = await pair.dc.openChunkUpload({ hash: 'md5' as never });
    await expect(up.finish()).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining(
        'x-ferry-hash "md5": this agent checks chunks named by blake3, sha256',
      ),
    });
  });
});
