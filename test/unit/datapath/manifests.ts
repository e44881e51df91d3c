// A well-formed manifest around `entries`, for the manifest and manifest-delta tests.
export function manifest(entries: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 1,
    id: 'snap-1',
    volume: 'vol',
    parent: null,
    full: false,
    createdAt: '2024-01-01T00:00:00.000Z',
    hash: 'sha256',
    chunker: { min: 16384, avg: 65536, max: 262144 },
    rootMode: 0o755,
    entries,
    ...extra,
  };
}
