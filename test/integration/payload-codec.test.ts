// The payload codec on real servers: a `ferry worker` with FERRY_CODEC_KEYS_FILE runs a Migration
// applied with kubectl; read without the codec (as anyone with access to Temporal would), its
// history holds only ciphertext; the codec server decodes it for the Web UI, also after a key
// rotation; a codec server without the key fails naming the key id; the SDK's live progress reads
// a running transfer's encrypted heartbeat (the transfer held still until the watcher has seen it).
import { jest } from '@jest/globals';
import { defaultPayloadConverter } from '@temporalio/common';
import crypto from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AesGcmCodec, ENCRYPTED_ENCODING, parseCodecKeys } from '../../client/payload-codec.js';
import { FerryClient, type MigrationProgress, type VolumeProgress } from '../../client/sdk.js';
import { connectTemporal, type TemporalConnection } from '../../client/temporal.js';
import { payloadsJson, startCodecServer } from '../../workers/codec-server.js';
import { prng } from '../agents/trees.js';
import { migrationYaml } from '../fixtures/apps/shop.js';
import { volumeAppYaml } from '../fixtures/apps/volume-app.js';
import { harness } from '../harness/context.js';
import { startDrWorld, type DrWorld } from '../harness/dr-world.js';
import { eventually } from '../harness/eventually.js';
import { midTransfer } from '../harness/faults-env.js';
import { codecPayloads, historyText, type History } from '../harness/history-scan.js';

jest.setTimeout(180_000);

const NS = 'codec-shop';
const MARKER = `codec-marker-${crypto.randomBytes(4).toString('hex')}`;
const k1 = `k1:${crypto.randomBytes(32).toString('base64')}`;
let world: DrWorld;
let raw: TemporalConnection;
let history: History;
let keysFile: string;

beforeAll(async () => {
  const dir = path.join(harness().env.dir, 'worlds', `codec-keys-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  keysFile = path.join(dir, 'keys');
  writeFileSync(keysFile, `${k1}\n`, { mode: 0o600 });
  world = await startDrWorld('payload-codec', { codecKeysFile: keysFile });
  raw = await connectTemporal(harness().env.temporal); // no codec: what the server stores
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    [
      `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"${NS}"}}`,
      `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${MARKER}","namespace":"${NS}"},"data":{"k":"v"}}`,
      await world.clusterPairYaml(NS, 'remote'),
    ].join('\n---\n'),
  );
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    migrationYaml(NS, 'm1', { clusterPair: 'remote', namespaces: [NS] }),
  );
  const m = await world.waitForMigration(NS, 'm1');
  expect((m['status'] as { status: string }).status).toBe('Successful');
  history = await raw.client.workflow.getHandle(`migration/${NS}/m1`).fetchHistory();
});

afterAll(async () => {
  await raw?.close();
  await world?.stop();
});

it('stores only ciphertext: every payload encrypted, no object name in any byte of the history', async () => {
  const payloads = codecPayloads(history);
  expect(payloads.length).toBeGreaterThan(10);
  for (const p of payloads) expect(Buffer.from(p.metadata!['encoding']!).toString()).toBe(ENCRYPTED_ENCODING);
  expect(historyText(history)).not.toContain(MARKER);
  // The same payloads through the codec do name the ConfigMap: the check above can fail.
  const decoded = await new AesGcmCodec(parseCodecKeys(k1, 'test')).decode(payloads);
  const plain = decoded.map((p) => JSON.stringify(defaultPayloadConverter.fromPayload(p))).join('\n');
  expect(plain).toContain(MARKER);
  // And the CR's status (written by activities from the decoded results) is plain as ever.
  const cr = await world.waitForMigration(NS, 'm1');
  expect(JSON.stringify(cr['status'])).toContain(MARKER);
});

it('the codec server decodes the stored payloads for the Web UI, also with the key rotated out of first place', async () => {
  const k2 = `k2:${crypto.randomBytes(32).toString('base64')}`;
  const server = await startCodecServer({ keys: parseCodecKeys(`${k2}\n${k1}`, 'test'), port: 0 });
  try {
    const res = await fetch(`${server.url}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default' },
      body: JSON.stringify(payloadsJson(codecPayloads(history))),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { payloads: Array<{ data: string }> };
    const text = body.payloads.map((p) => Buffer.from(p.data, 'base64').toString('utf8')).join('\n');
    expect(text).toContain(MARKER);
    expect(text).toContain('"clusterPair":"remote"');
  } finally {
    await server.close();
  }
});

it('a codec server without the key that encrypted fails clearly, naming the key id', async () => {
  const server = await startCodecServer({
    keys: parseCodecKeys(`k9:${crypto.randomBytes(32).toString('base64')}`, 'test'),
    port: 0,
  });
  try {
    const res = await fetch(`${server.url}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payloadsJson(codecPayloads(history).slice(0, 1))),
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: string }).error).toBe(
      'payload encrypted with key id "k1", which is not among the configured keys (k9): add it to FERRY_CODEC_KEYS_FILE',
    );
  } finally {
    await server.close();
  }
});

it("the SDK's migrationProgress shows a running transfer's heartbeat, decoded with the codec", async () => {
  const ns = 'codec-live';
  const volume = `${ns}-data`;
  const src = world.agents.source;
  await src.client().createVolume(volume);
  writeFileSync(path.join(src.volumePath(volume), 'big.bin'), prng(128 * 1024 * 1024, ns));
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    volumeAppYaml(ns, { volumePath: src.volumePath(volume), pv: `pv-${ns}` }),
  );
  await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(ns, 'remote'));
  const h = harness().env;
  const ferry = await FerryClient.connect({
    address: h.temporal.address,
    namespace: h.temporal.namespace,
    taskQueue: world.taskQueue,
    env: { FERRY_CODEC_KEYS_FILE: keysFile },
  });
  try {
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      migrationYaml(ns, 'm-live', { clusterPair: 'remote', namespaces: [ns] }),
    );
    const seen: VolumeProgress[] = [];
    await eventually('the migration readable through the SDK', () =>
      ferry.migrationStatus(ns, 'm-live').catch(() => undefined),
    );
    const progress = ferry.migrationProgress(ns, 'm-live', { intervalMs: 100 });
    // Hold the transfer still (destination agent stopped) until the watcher has seen it live: on
    // a loaded machine 128 MiB can otherwise move between two rounds of the watcher.
    await midTransfer(world, volume);
    const frozen = world.agents.destination.pid;
    process.kill(frozen, 'SIGSTOP');
    let frozenUntilLive = true;
    let last: MigrationProgress | undefined;
    try {
      for await (const p of progress) {
        last = p;
        seen.push(...p.volumes.filter((v) => v.volume === volume));
        if (frozenUntilLive && seen.some((v) => v.live)) {
          frozenUntilLive = false;
          process.kill(frozen, 'SIGCONT');
        }
      }
    } finally {
      if (frozenUntilLive) process.kill(frozen, 'SIGCONT');
    }
    // While it ran, the numbers came from the transfer's (encrypted) heartbeat...
    const live = seen.filter((v) => v.live);
    expect(live.length).toBeGreaterThan(0);
    for (const v of live) expect(v.bytesDone).toBeLessThanOrEqual(v.bytesTotal);
    // ...and at the end from the status: every byte, nothing live.
    expect(last?.final).toBe(true);
    expect(last?.status.status).toBe('Successful');
    expect(last?.volumes.find((v) => v.volume === volume)).toMatchObject({
      live: false,
      bytesDone: 128 * 1024 * 1024,
    });
  } finally {
    await ferry.close();
  }
});
