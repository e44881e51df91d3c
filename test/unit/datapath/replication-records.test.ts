import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ReplicationStatus } from '../../../datapath/protocol/agent-api.js';
import { ReplicationRecords } from '../../../datapath/source/replication-records.js';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-records-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const dest = { url: 'https://standby:7443/', volume: 'v', token: 't' };
const status = (id: string, phase: ReplicationStatus['phase']): ReplicationStatus =>
  ({
    id,
    volume: 'v',
    destination: { url: dest.url, volume: 'v' },
    phase,
    startedAt: '2026-12-04T00:00:00Z',
  }) as ReplicationStatus;

describe('ReplicationRecords', () => {
  it('keeps counts and statuses across a reopen; a run that was going is reported interrupted', async () => {
    const { records } = await ReplicationRecords.open(root);
    await records.succeeded('v', dest);
    await records.succeeded('v', { ...dest, url: 'https://standby:7443' }); // same destination
    await records.save(status('r1', 'succeeded'));
    await records.save(status('r2', 'transferring'));
    const again = await ReplicationRecords.open(root);
    expect(again.records.previous('v', dest)).toBe(2);
    expect(again.records.previous('v', { ...dest, volume: 'w' })).toBe(0);
    const byId = new Map(again.statuses.map((s) => [s.id, s]));
    expect(byId.get('r1')?.phase).toBe('succeeded');
    expect(byId.get('r2')).toMatchObject({
      phase: 'failed',
      error: { code: 'interrupted', retryable: true },
    });
  });

  it('reports a failed write to onError, keeps the count in memory, and writes it whole next time', async () => {
    const errors: string[] = [];
    const { records } = await ReplicationRecords.open(root, (file, err) =>
      errors.push(`${path.basename(file)}: ${(err as NodeJS.ErrnoException).code}`),
    );
    const countsFile = path.join(root, 'state', 'replication-counts.json');
    fs.mkdirSync(countsFile); // the rename onto it fails
    await records.succeeded('v', dest);
    expect(errors).toEqual(['replication-counts.json: EISDIR']);
    expect(records.previous('v', dest)).toBe(1);
    fs.rmdirSync(countsFile);
    await records.succeeded('v', dest);
    expect(errors).toHaveLength(1);
    expect((await ReplicationRecords.open(root)).records.previous('v', dest)).toBe(2);
  });
});
