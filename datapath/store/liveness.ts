// Liveness: what keeps a chunk in the store. Each present chunk counts the references live
// manifests (source snapshots and standby restore points) hold on it; references to a chunk not
// present yet wait as "phantom" references and are applied when it arrives. Pins protect chunks
// that no manifest references yet (a snapshot being taken, an upload session before its commit).
// gc.ts drops what nothing keeps alive.
//
// Manifests reference their chunks through their files' chunk lists (refLists): a list counts
// once however many manifests hold it, by identity. Why: consecutive snapshots of a volume share
// the list objects of every unchanged file (source/snapshot.ts reuses the parent's entry; a
// manifest delta reuses its base's, destination), so a new snapshot or restore point references,
// and a pruned one releases, only the chunks of files that changed, not every chunk again. On the
// 2 GiB benchmark volume (37,000 chunks) an unchanged replication spent ~15 ms a side counting
// references and ~7.5 ms listing the pruned manifest's chunks to release them.
import type { RecordLoc } from './pack.js';

/** An index entry: where a chunk's record is, and how many references live manifests hold on it. */
export interface Entry extends RecordLoc {
  refs: number;
}

/** A set of chunk hashes kept alive until released. */
export class Pin {
  private readonly set = new Set<string>();
  /** Lists added whole, put into `set` when it is first read (few pins are ever asked). */
  private lists: ChunkList[] = [];
  lastUsed = Date.now();

  add(hex: string): void {
    this.set.add(hex);
    this.lastUsed = Date.now();
  }

  /**
   * Adds every chunk of `list` (kept, not copied: it must not change while pinned). Why: a
   * snapshot pins each unchanged file's chunks as it reuses them, ~37,000 on the 2 GiB benchmark
   * volume, and the pin is only read when a gc runs while it is held.
   */
  addList(list: ChunkList): void {
    this.lists.push(list);
    this.lastUsed = Date.now();
  }

  get hashes(): ReadonlySet<string> {
    if (this.lists.length > 0) {
      for (const list of this.lists) for (const c of list) this.set.add(c[0]);
      this.lists = [];
    }
    return this.set;
  }

  has(hex: string): boolean {
    return this.hashes.has(hex);
  }

  clear(): void {
    this.set.clear();
    this.lists = [];
  }
}

/** A file's chunks in order: hash first (manifest.ts ChunkRef). */
export type ChunkList = ReadonlyArray<readonly [string, ...unknown[]]>;

/** References and pins over a store's index (whose entries hold the counts of present chunks). */
export class Liveness {
  /** References to chunks not (yet) present, applied when they arrive. */
  private readonly phantom = new Map<string, number>();
  private readonly pins = new Set<Pin>();
  /** Live manifests holding each chunk list (refLists). */
  private readonly lists = new Map<ChunkList, number>();

  constructor(private readonly index: ReadonlyMap<string, Entry>) {}

  /**
   * Adds a manifest's references: each of `lists` (its files' chunks) not held by a live manifest
   * yet adds one reference to each chunk in it, once per occurrence; one held already is only
   * counted. unrefLists with the same lists undoes it.
   */
  refLists(lists: Iterable<ChunkList>): void {
    for (const list of lists) {
      const n = this.lists.get(list) ?? 0;
      this.lists.set(list, n + 1);
      if (n === 0) for (const c of list) this.refOne(c[0]);
    }
  }

  unrefLists(lists: Iterable<ChunkList>): void {
    for (const list of lists) {
      const n = this.lists.get(list);
      // Not referenced through refLists (never, in the agent): leaving its chunks referenced keeps
      // them until the next start recounts references from the manifests on disk; releasing them
      // could take another manifest's reference.
      if (n === undefined) continue;
      if (n > 1) this.lists.set(list, n - 1);
      else {
        this.lists.delete(list);
        for (const c of list) this.unrefOne(c[0]);
      }
    }
  }

  /** Adds one reference from a live manifest to each of `hashes` (unique per manifest). */
  ref(hashes: Iterable<string>): void {
    for (const h of hashes) this.refOne(h);
  }

  unref(hashes: Iterable<string>): void {
    for (const h of hashes) this.unrefOne(h);
  }

  private refOne(h: string): void {
    const l = this.index.get(h);
    if (l) l.refs++;
    else this.phantom.set(h, (this.phantom.get(h) ?? 0) + 1);
  }

  private unrefOne(h: string): void {
    const l = this.index.get(h);
    if (l) l.refs = Math.max(0, l.refs - 1);
    else {
      const p = (this.phantom.get(h) ?? 0) - 1;
      if (p > 0) this.phantom.set(h, p);
      else this.phantom.delete(h);
    }
  }

  refCount(hex: string): number {
    return this.index.get(hex)?.refs ?? 0;
  }

  /** Whether a live manifest references the chunk (present or not) or a pin holds it. */
  wanted(hex: string): boolean {
    return (this.index.get(hex)?.refs ?? this.phantom.get(hex) ?? 0) > 0 || this.pinned(hex);
  }

  /** The references made to a chunk before it arrived, for the index entry made for it. */
  arrived(hex: string): number {
    const waiting = this.phantom.get(hex) ?? 0;
    this.phantom.delete(hex);
    return waiting;
  }

  /** Keeps the references of a chunk leaving the index (found corrupt), for when it arrives again. */
  left(hex: string, refs: number): void {
    if (refs > 0) this.phantom.set(hex, refs);
  }

  pin(): Pin {
    const p = new Pin();
    this.pins.add(p);
    return p;
  }

  release(pin: Pin): void {
    this.pins.delete(pin);
  }

  pinned(hex: string): boolean {
    for (const p of this.pins) if (p.has(hex)) return true;
    return false;
  }
}
