// Liveness: what keeps a chunk in the store. Each present chunk counts the live manifests (source
// snapshots and standby restore points) that reference it; references to a chunk not present yet
// wait as "phantom" references and are applied when it arrives. Pins protect chunks that no
// manifest references yet (a snapshot being taken, an upload session before its commit). gc.ts
// drops what nothing keeps alive.
import type { RecordLoc } from './pack.js';

/** An index entry: where a chunk's record is, and how many live manifests reference it. */
export interface Entry extends RecordLoc {
  refs: number;
}

/** A set of chunk hashes kept alive until released. */
export class Pin {
  readonly hashes = new Set<string>();
  lastUsed = Date.now();
  add(hex: string): void {
    this.hashes.add(hex);
    this.lastUsed = Date.now();
  }
}

/** References and pins over a store's index (whose entries hold the counts of present chunks). */
export class Liveness {
  /** References to chunks not (yet) present, applied when they arrive. */
  private readonly phantom = new Map<string, number>();
  private readonly pins = new Set<Pin>();

  constructor(private readonly index: ReadonlyMap<string, Entry>) {}

  /** Adds one reference from a live manifest to each of `hashes` (unique per manifest). */
  ref(hashes: Iterable<string>): void {
    for (const h of hashes) {
      const l = this.index.get(h);
      if (l) l.refs++;
      else this.phantom.set(h, (this.phantom.get(h) ?? 0) + 1);
    }
  }

  unref(hashes: Iterable<string>): void {
    for (const h of hashes) {
      const l = this.index.get(h);
      if (l) l.refs = Math.max(0, l.refs - 1);
      else {
        const p = (this.phantom.get(h) ?? 0) - 1;
        if (p > 0) this.phantom.set(h, p);
        else this.phantom.delete(h);
      }
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
    for (const p of this.pins) if (p.hashes.has(hex)) return true;
    return false;
  }
}
