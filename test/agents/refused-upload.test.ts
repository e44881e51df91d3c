// A chunk upload refused in the middle (a frame whose bytes do not match its name) keeps every
// chunk verified before the bad frame, and the real sender's next replication does not send them
// again: it asks the destination what it lacks and sends only that. Two real agents over TLS.
import fs from 'node:fs';
import path from 'node:path';
import { Chunker } from '../../datapath/store/chunker.js';
import { AgentApiError, type AgentClient } from '../../datapath/client/client.js';
import { frameHeader } from '../../datapath/protocol/wire.js';
import { hashBytes } from '../../datapath/store/hash.js';
import type { AgentHandle } from '../../localenv/agents.js';
import { startAgentPair, type AgentPair } from './pair.js';
import { describeTree, prng } from './trees.js';

let pair: AgentPair;
let dst: AgentHandle;
let sc: AgentClient;
let dc: AgentClient;

beforeAll(async () => {
  pair = await startAgentPair('refused');
  ({ dst, sc, dc } = pair);
});

afterAll(async () => {
  await pair?.stop();
});

/** ferry_agent_chunks_received_total{result="stored"} of the destination. */
async function chunksStored(): Promise<number> {
  const m = /^ferry_agent_chunks_received_total\{[^}]*result="stored"[^}]*\} (\d+)/m.exec(await dc.metrics());
  return m ? Number(m[1]) : 0;
}

it('keeps the chunks verified before a refused frame; the next replication sends only the rest', async () => {
  const data = prng(4 << 20, 'refused-upload');
  const vol = (await sc.createVolume('refused')).path;
  fs.writeFileSync(path.join(vol, 'data.bin'), data);
  const chunks: Array<{ hash: Buffer; raw: Buffer }> = [];
  const alg = (await sc.info()).hash; // name them as the sender will
  let at = 0;
  for (const size of new Chunker().split(data)) {
    const raw = data.subarray(at, at + size);
    chunks.push({ hash: hashBytes(raw, alg), raw });
    at += size;
  }
  expect(chunks.length).toBeGreaterThan(20);
  const frame = (hash: Buffer, raw: Buffer) => {
    const stored = Buffer.concat([Buffer.from([0]), raw]); // encoding 0: raw bytes
    return [frameHeader(hash, raw.length, stored.length), stored];
  };

  // One upload: the first half of the chunks, then a frame whose bytes are not what it names,
  // then the rest. The agent refuses it (422) naming the bad chunk.
  const half = Math.floor(chunks.length / 2);
  const bad = chunks[half]!;
  const forged = Buffer.from(bad.raw);
  forged[0] = (forged[0] as number) ^ 0xff;
  const up = await dc.openChunkUpload({ hash: alg });
  for (const c of chunks.slice(0, half)) for (const b of frame(c.hash, c.raw)) await up.write(b);
  for (const b of frame(bad.hash, forged)) await up.write(b);
  for (const c of chunks.slice(half + 1)) for (const b of frame(c.hash, c.raw)) await up.write(b);
  const err = await up.finish().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AgentApiError);
  expect(err).toMatchObject({ status: 422, code: 'hash_mismatch' });
  expect((err as Error).message).toContain(`chunk ${bad.hash.toString('hex')}: content hashes to`);

  // Kept: exactly the chunks before the bad frame, each verified again on the agent's disk.
  const have = await dc.hasChunks(
    chunks.map((c) => c.hash),
    { verify: true },
  );
  expect(have).toEqual(chunks.map((_, i) => i < half));
  const storedBefore = await chunksStored();
  expect(storedBefore).toBe(half);

  // The real sender: a replication of a snapshot of the same bytes sends only what is missing.
  const snapshot = await sc.createSnapshot('refused');
  const s = await sc.replicate(
    {
      volume: 'refused',
      snapshotId: snapshot.id,
      destination: pair.destination(),
    },
    { pollMs: 50 },
  );
  expect(s.phase).toBe('succeeded');
  expect(s.chunksTotal).toBe(new Set(chunks.map((c) => c.hash.toString('hex'))).size);
  expect(s.chunksSkipped).toBe(half);
  expect(s.chunksSent).toBe(s.chunksTotal - half);
  expect((await chunksStored()) - storedBefore).toBe(s.chunksTotal - half);
  expect(describeTree(dst.standbyPath('refused'))).toEqual(describeTree(vol));
});
