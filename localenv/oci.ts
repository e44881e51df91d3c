import { createHash } from 'node:crypto';

/**
 * A minimal OCI image writer: one uncompressed layer made of in-memory entries, wrapped in an OCI
 * image layout tarball (oci-layout, index.json, blobs/sha256/...) that `ctr images import` reads.
 * No registry and no Docker: images for local nodes are built from files already on this machine.
 *
 *   const layer = tarArchive([{ path: 'bin/busybox', data, mode: 0o755 }, { path: 'bin/sh', link: 'busybox' }]);
 *   const tarball = ociImageTarball({ name: 'ferry.local/busybox:1', layer, config: { Cmd: ['sh'] } });
 *   await writeFile('busybox.tar', tarball);
 */
export interface TarEntry {
  /** Relative path inside the archive, without a leading slash; a directory when neither data nor link is given. */
  path: string;
  data?: Buffer;
  /** Target of a symbolic link. */
  link?: string;
  /** Permission bits; default 0o644 for files, 0o755 for directories and links. */
  mode?: number;
}

const BLOCK = 512;

function header(entry: TarEntry, size: number, type: '0' | '2' | '5'): Buffer {
  const h = Buffer.alloc(BLOCK);
  const name = type === '5' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    // ustar: split a long path at a slash into prefix (155) and name (100).
    const cut = name.lastIndexOf('/', name.length - 2);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
    if (cut < 0 || Buffer.byteLength(prefix) > 155 || Buffer.byteLength(base) > 100) {
      throw new Error(`tar path too long: ${name}`);
    }
  }
  const mode = entry.mode ?? (type === '0' ? 0o644 : 0o755);
  const octal = (n: number, width: number): string => `${n.toString(8).padStart(width - 1, '0')}\0`;
  h.write(base, 0, 100);
  h.write(octal(mode, 8), 100);
  h.write(octal(0, 8), 108); // uid root
  h.write(octal(0, 8), 116); // gid root
  h.write(octal(size, 12), 124);
  h.write(octal(0, 12), 136); // mtime: the epoch, so the same inputs give the same digest
  h.write('        ', 148); // checksum placeholder
  h.write(type, 156);
  if (entry.link) h.write(entry.link, 157, 100);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.write(prefix, 345, 155);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/** A ustar archive of `entries` in the given order, deterministic (root owner, mtime 0). */
export function tarArchive(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.link !== undefined) {
      parts.push(header(e, 0, '2'));
    } else if (e.data === undefined) {
      parts.push(header(e, 0, '5'));
    } else {
      parts.push(header(e, e.data.length, '0'), e.data);
      const pad = (BLOCK - (e.data.length % BLOCK)) % BLOCK;
      if (pad) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

export interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
}

export interface OciImageOptions {
  /** Full reference, e.g. ferry.local/busybox:1.35.0; becomes the imported image's name. */
  name: string;
  /** One uncompressed layer (a tar archive). */
  layer: Buffer;
  config: ImageConfig;
  architecture?: string;
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** An OCI image layout as one tar archive holding a single-layer linux image named `name`. */
export function ociImageTarball(opts: OciImageOptions): Buffer {
  const layerDigest = sha256(opts.layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: opts.architecture ?? goArch(process.arch),
      os: 'linux',
      created: '1970-01-01T00:00:00Z',
      config: opts.config,
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
      history: [{ created: '1970-01-01T00:00:00Z', created_by: 'ferry localenv/oci.ts' }],
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: `sha256:${sha256(config)}`,
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: `sha256:${layerDigest}`,
          size: opts.layer.length,
        },
      ],
    }),
  );
  const tag = opts.name.slice(opts.name.lastIndexOf(':') + 1);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${sha256(manifest)}`,
          size: manifest.length,
          annotations: { 'io.containerd.image.name': opts.name, 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  const blob = (b: Buffer): TarEntry => ({ path: `blobs/sha256/${sha256(b)}`, data: b });
  return tarArchive([
    { path: 'oci-layout', data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
    { path: 'index.json', data: index },
    { path: 'blobs' },
    { path: 'blobs/sha256' },
    blob(opts.layer),
    blob(config),
    blob(manifest),
  ]);
}

function goArch(arch: string): string {
  return (
    ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as const)[
      arch as 'x64'
    ] ?? arch
  );
}
