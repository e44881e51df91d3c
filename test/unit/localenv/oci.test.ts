import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { debianVersionTag } from '../../../localenv/images.js';
import { ociImageTarball, tarArchive } from '../../../localenv/oci.js';

const run = promisify(execFile);
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('tarArchive', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-oci-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes what GNU tar reads back: directories, files with their modes, links, long paths', async () => {
    const long = `${'d'.repeat(80)}/${'e'.repeat(60)}/file.txt`;
    const tar = tarArchive([
      { path: 'bin' },
      { path: 'tmp', mode: 0o1777 },
      { path: 'bin/tool', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
      { path: 'bin/alias', link: '/bin/tool' },
      { path: long, data: Buffer.alloc(1000, 7) },
    ]);
    expect(tar.length % 512).toBe(0);
    const file = path.join(dir, 'a.tar');
    await writeFile(file, tar);
    const { stdout } = await run('tar', ['--numeric-owner', '-tvf', file]);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^drwxr-xr-x 0\/0 +0 1970-01-01 00:00 bin\/$/);
    expect(lines[1]).toMatch(/^drwxrwxrwt .* tmp\/$/);
    expect(lines[2]).toMatch(/^-rwxr-xr-x 0\/0 +18 .* bin\/tool$/);
    expect(lines[3]).toMatch(/ bin\/alias -> \/bin\/tool$/);
    expect(lines[4]).toContain(long);
    await run('tar', ['-xf', file, '-C', dir]);
    expect(await readFile(path.join(dir, long))).toEqual(Buffer.alloc(1000, 7));
  });

  it('is deterministic: the same entries give the same bytes', () => {
    const entries = [{ path: 'x', data: Buffer.from('x') }];
    expect(sha256(tarArchive(entries))).toBe(sha256(tarArchive(entries)));
  });
});

describe('ociImageTarball', () => {
  it('is an OCI layout whose index names the image and whose blobs match their digests', async () => {
    const layer = tarArchive([{ path: 'hello', data: Buffer.from('world') }]);
    const image = ociImageTarball({ name: 'ferry.local/t:1', layer, config: { Cmd: ['/hello'] } });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-oci-'));
    try {
      await writeFile(path.join(dir, 'i.tar'), image);
      await run('tar', ['-xf', path.join(dir, 'i.tar'), '-C', dir]);
      const blob = (digest: string): Promise<Buffer> =>
        readFile(path.join(dir, 'blobs', 'sha256', digest.replace('sha256:', '')));
      const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8'));
      const entry = index.manifests[0];
      expect(entry.annotations['io.containerd.image.name']).toBe('ferry.local/t:1');
      const manifestBytes = await blob(entry.digest);
      expect(`sha256:${sha256(manifestBytes)}`).toBe(entry.digest);
      const manifest = JSON.parse(manifestBytes.toString());
      const config = JSON.parse((await blob(manifest.config.digest)).toString());
      expect(config).toMatchObject({ os: 'linux', config: { Cmd: ['/hello'] } });
      expect(config.rootfs.diff_ids).toEqual([`sha256:${sha256(layer)}`]);
      expect(await blob(manifest.layers[0].digest)).toEqual(layer);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('debianVersionTag', () => {
  it.each([
    ['1:1.35.0-4+deb12u1+b1', '1.35.0-4-deb12u1-b1'],
    ['15.18-0+deb12u1', '15.18-0-deb12u1'],
    ['2.0~rc1', '2.0-rc1'],
  ])('%s -> %s', (version, tag) => {
    expect(debianVersionTag(version)).toBe(tag);
  });
});
