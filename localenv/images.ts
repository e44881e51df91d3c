import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ociImageTarball, tarArchive, type TarEntry } from './oci.js';

const run = promisify(execFile);

/**
 * Container images for local nodes, built from Debian packages on this machine (no registry can be
 * pulled from): `ferry.local/busybox:<debian version>` holds Debian's busybox-static as one layer.
 * Its default command idles until SIGTERM, so the same image is the nodes' pause (sandbox) image.
 * Tarballs are cached in <cache>/images; pods use them with `imagePullPolicy: Never`.
 *
 *   const image = await busyboxImage();            // { name, tarball }
 *   await importImage(containerdSocket, image);     // ctr -n k8s.io images import
 */
export interface LocalImage {
  /** Full reference, e.g. ferry.local/busybox:1.35.0-4-deb12u1-b1 */
  name: string;
  /** OCI image layout tarball. */
  tarball: string;
}

export const BUSYBOX = '/bin/busybox';

/** The idle loop of the pause container: exits on SIGTERM/SIGINT, else sleeps forever. */
export const IDLE_COMMAND = [
  '/bin/sh',
  '-c',
  'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done',
];

export function cacheDir(): string {
  return (
    process.env.FERRY_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'ferry')
  );
}

/** A Debian version as an image tag: 1:1.35.0-4+b1 -> 1.35.0-4-b1. */
export function debianVersionTag(version: string): string {
  return version
    .replace(/^\d+:/, '')
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .slice(0, 128);
}

async function packageVersion(pkg: string): Promise<string> {
  try {
    const { stdout } = await run('dpkg-query', ['-W', '-f', '${Version}', pkg]);
    return stdout.trim();
  } catch {
    throw new Error(`Debian package ${pkg} is not installed: apt-get install ${pkg} (bash .ci/run does)`);
  }
}

/** Builds (once, then cached) the busybox image from Debian's busybox-static. */
export async function busyboxImage(): Promise<LocalImage> {
  if (!existsSync(BUSYBOX)) {
    throw new Error(`${BUSYBOX} is missing: apt-get install busybox-static (bash .ci/run does)`);
  }
  const tag = debianVersionTag(await packageVersion('busybox-static'));
  const name = `ferry.local/busybox:${tag}`;
  const dir = path.join(cacheDir(), 'images');
  const tarball = path.join(dir, `busybox-${tag}.tar`);
  if (existsSync(tarball)) return { name, tarball };

  const { stdout } = await run(BUSYBOX, ['--list-full']);
  const links = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && l !== 'bin/busybox');
  const dirs = new Set(['bin', 'dev', 'etc', 'proc', 'root', 'sys', 'tmp', 'var', 'data']);
  for (const l of links) {
    for (let d = path.posix.dirname(l); d !== '.'; d = path.posix.dirname(d)) dirs.add(d);
  }
  const entries: TarEntry[] = [
    ...[...dirs].sort().map((d) => ({ path: d, mode: d === 'tmp' ? 0o1777 : 0o755 })),
    { path: 'bin/busybox', data: await readFile(BUSYBOX), mode: 0o755 },
    ...links.sort().map((l) => ({ path: l, link: '/bin/busybox' })),
    {
      path: 'etc/passwd',
      data: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n'),
    },
    { path: 'etc/group', data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') },
  ];
  const image = ociImageTarball({
    name,
    layer: tarArchive(entries),
    config: { Cmd: IDLE_COMMAND, Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
  });
  await mkdir(dir, { recursive: true });
  await writeFile(`${tarball}.tmp`, image);
  await rename(`${tarball}.tmp`, tarball);
  return { name, tarball };
}

/** Imports an image into the CRI namespace (k8s.io) of the containerd at `socket`, unpacked for `snapshotter`. */
export async function importImage(socket: string, image: LocalImage, snapshotter = 'native'): Promise<void> {
  try {
    await run('ctr', [
      '--address',
      socket,
      '--namespace',
      'k8s.io',
      'images',
      'import',
      '--snapshotter',
      snapshotter,
      image.tarball,
    ]);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ctr images import ${image.tarball} failed: ${e.stderr?.trim() || e.message}`);
  }
}
