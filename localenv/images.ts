import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
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

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A tarball in the image cache, written once by `build` (atomically, so readers never see half). */
async function cached(file: string, build: () => Promise<Buffer>): Promise<string> {
  const tarball = path.join(cacheDir(), 'images', file);
  if (existsSync(tarball)) return tarball;
  const image = await build();
  await mkdir(path.dirname(tarball), { recursive: true });
  await writeFile(`${tarball}.${process.pid}.tmp`, image);
  await rename(`${tarball}.${process.pid}.tmp`, tarball);
  return tarball;
}

/** Parent directories of `paths` (relative), each once, parents first. */
function parentDirs(paths: string[], extra: string[] = []): TarEntry[] {
  const dirs = new Set(extra);
  for (const p of paths) {
    for (let d = path.posix.dirname(p); d !== '.'; d = path.posix.dirname(d)) dirs.add(d);
  }
  return [...dirs].sort().map((d) => ({ path: d, mode: d === 'tmp' ? 0o1777 : 0o755 }));
}

/** The busybox userland every image here starts from: /bin/busybox and a link per applet. */
async function busyboxEntries(): Promise<TarEntry[]> {
  if (!existsSync(BUSYBOX)) {
    throw new Error(`${BUSYBOX} is missing: apt-get install busybox-static (bash .ci/run does)`);
  }
  const { stdout } = await run(BUSYBOX, ['--list-full']);
  const links = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && l !== 'bin/busybox')
    .sort();
  return [
    { path: 'bin/busybox', data: await readFile(BUSYBOX), mode: 0o755 },
    ...links.map((l) => ({ path: l, link: '/bin/busybox' })),
  ];
}

/** Builds (once, then cached) the busybox image from Debian's busybox-static. */
export async function busyboxImage(): Promise<LocalImage> {
  const tag = debianVersionTag(await packageVersion('busybox-static'));
  const name = `ferry.local/busybox:${tag}`;
  const tarball = await cached(`busybox-${tag}.tar`, async () => {
    const files: TarEntry[] = [
      ...(await busyboxEntries()),
      {
        path: 'etc/passwd',
        data: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n'),
      },
      { path: 'etc/group', data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') },
    ];
    const dirs = parentDirs(
      files.map((f) => f.path),
      ['dev', 'etc', 'proc', 'root', 'sys', 'tmp', 'var', 'data'],
    );
    return ociImageTarball({
      name,
      layer: tarArchive([...dirs, ...files]),
      config: { Cmd: IDLE_COMMAND, Env: [PATH_ENV] },
    });
  });
  return { name, tarball };
}

/** The user PostgreSQL runs as in its image (it refuses to run as root). */
export const POSTGRES_UID = 999;

/** The shared libraries `files` load (ldd), with the dynamic loader, as absolute paths. */
async function sharedLibraries(files: string[]): Promise<string[]> {
  const libs = new Set<string>();
  for (const f of files) {
    const { stdout } = await run('ldd', [f]).catch(() => ({ stdout: '' }));
    for (const line of stdout.split('\n')) {
      const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
      if (m?.[1]) libs.add(m[1]);
    }
  }
  return [...libs].sort();
}

/**
 * Builds (once, then cached) `ferry.local/postgres:<major>` from Debian's postgresql-<major>: its
 * server and client binaries, extension modules (not the LLVM JIT), share files and every shared
 * library they load, on the busybox userland. Its command, /usr/local/bin/postgres-entrypoint,
 * initializes $PGDATA (default /data/pgdata) on first start with trust authentication for the
 * pod's own network, then runs postgres; run it as POSTGRES_UID with /data writable by that user.
 */
export async function postgresImage(): Promise<LocalImage> {
  const versions = (await readdir('/usr/lib/postgresql').catch(() => [] as string[]))
    .filter((v) => /^\d+$/.test(v) && existsSync(`/usr/lib/postgresql/${v}/bin/postgres`))
    .sort((a, b) => Number(b) - Number(a));
  const major = versions[0];
  if (!major) {
    throw new Error(
      'no PostgreSQL server in /usr/lib/postgresql: apt-get install postgresql-15 (bash .ci/run does)',
    );
  }
  const tag = debianVersionTag(await packageVersion(`postgresql-${major}`));
  const name = `ferry.local/postgres:${major}`;
  const tarball = await cached(`postgres-${tag}.tar`, async () => {
    const root = `/usr/lib/postgresql/${major}`;
    const bins = ['postgres', 'initdb', 'pg_ctl', 'psql', 'pg_isready', 'pg_dump'].map(
      (b) => `${root}/bin/${b}`,
    );
    const modules = (await readdir(`${root}/lib`))
      .filter((f) => f.endsWith('.so') && !f.startsWith('llvmjit'))
      .map((f) => `${root}/lib/${f}`);
    const share = `/usr/share/postgresql/${major}`;
    const shareFiles = (await readdir(share, { recursive: true, withFileTypes: true }))
      .filter((d) => d.isFile())
      .map((d) => path.join(d.parentPath, d.name));
    const libs = await sharedLibraries([...bins, ...modules]);
    const zone = ['/usr/share/zoneinfo/UTC', '/usr/share/zoneinfo/Etc/UTC'].filter((f) => existsSync(f));
    const hostFiles = [...bins, ...modules, ...shareFiles, ...libs, ...zone];
    const entrypoint = [
      '#!/bin/sh',
      '# Initializes $PGDATA on first start, then runs PostgreSQL in the foreground.',
      'set -e',
      'export PGDATA="${PGDATA:-/data/pgdata}"',
      'if [ ! -s "$PGDATA/PG_VERSION" ]; then',
      '  initdb -D "$PGDATA" -U postgres --auth-local=trust --auth-host=trust --locale=C -E UTF8 >/tmp/initdb.log',
      `  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"`,
      'fi',
      'exec postgres -D "$PGDATA" -k /tmp "$@"',
      '',
    ].join('\n');
    const files: TarEntry[] = [
      ...(await busyboxEntries()),
      ...(await Promise.all(
        hostFiles.map(async (f) => ({
          path: f.slice(1),
          data: await readFile(f), // follows symlinks: every library lands as a plain file
          mode: f.includes('/bin/') || f.endsWith('.so') || /\.so[.\d]*$/.test(f) ? 0o755 : 0o644,
        })),
      )),
      ...bins.map((b) => ({ path: `usr/bin/${path.basename(b)}`, link: b })),
      { path: 'usr/local/bin/postgres-entrypoint', data: Buffer.from(entrypoint), mode: 0o755 },
      {
        path: 'etc/passwd',
        data: Buffer.from(
          `root:x:0:0:root:/root:/bin/sh\npostgres:x:${POSTGRES_UID}:${POSTGRES_UID}:PostgreSQL:/data:/bin/sh\n`,
        ),
      },
      { path: 'etc/group', data: Buffer.from(`root:x:0:\npostgres:x:${POSTGRES_UID}:\n`) },
    ];
    // Busybox links into /usr/bin already; the PostgreSQL links there replace none of them.
    const seen = new Set<string>();
    const unique = files.filter((f) => !seen.has(f.path) && seen.add(f.path));
    const dirs = parentDirs(
      unique.map((f) => f.path),
      ['dev', 'etc', 'proc', 'root', 'sys', 'tmp', 'var', 'data', 'run'],
    );
    return ociImageTarball({
      name,
      layer: tarArchive([...dirs, ...unique]),
      config: {
        Cmd: ['/usr/local/bin/postgres-entrypoint'],
        Env: [PATH_ENV, 'PGDATA=/data/pgdata', 'TZ=UTC', 'LANG=C'],
        WorkingDir: '/data',
      },
    });
  });
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
