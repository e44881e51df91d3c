// The ClusterPair mode rule (Stork async DR): with `options.mode: DisasterRecovery` every
// replication of a volume is incremental; otherwise every 7th one is full, i.e. replications
// #1, #8, #15, ... of a volume (counting from 1) re-read and re-verify everything, and the six
// between them are incremental. `previous` is the number of earlier replications of the same
// volume to the same destination. A replication with no parent snapshot reads everything either way.
//
//   mode              previous  ->  kind
//   DisasterRecovery  any           incremental
//   (default)         0             full
//   (default)         1..6          incremental
//   (default)         7             full
//   (default)         8..13         incremental
//   (default)         14            full

export type ClusterPairMode = 'DisasterRecovery' | 'default' | undefined | null | '';
export type ReplicationKind = 'full' | 'incremental';

export const FULL_EVERY = 7;

export function replicationKind(mode: string | undefined | null, previous: number): ReplicationKind {
  if (!Number.isInteger(previous) || previous < 0) {
    throw new RangeError(`previous replications must be a non-negative integer, got ${String(previous)}`);
  }
  if (mode === 'DisasterRecovery') return 'incremental';
  return previous % FULL_EVERY === 0 ? 'full' : 'incremental';
}
