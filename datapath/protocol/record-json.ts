// A manifest's record file as text (a destination's `manifests/<id>.json`, a source's
// `snapshots/<volume>/<id>.json`), with the manifest written last and its entries last in it, so
// the JSON of the entries can be taken from the text again and reused.
//
// Why: a commit or a snapshot that found nothing changed wrote the same entries again through
// JSON.stringify: 49 ms of an unchanged 2 GiB commit's ~100 ms, and ~25 ms of the source's
// snapshot (10,500 entries, 3.7 MB; probe timings in that benchmark). Each side keeps the entries'
// JSON of each volume's newest manifest (KeptEntries: from the write that made it, or cut out of
// its file on open) and writes a record whose entries equal those from it. Equal entries have
// equal JSON where both were written by JSON.stringify from entries built by the same code; where
// a kept text came from an older writer with another key order, it still parses to equal entries.
import type { Manifest } from './manifest.js';

/** Entries JSON longer than this is not kept in memory (a volume of about three million files). */
export const MAX_KEPT_ENTRIES_JSON = 256 * 1024 * 1024;

const ENTRIES_KEY = ',"entries":';

/**
 * The record as JSON (the same value JSON.stringify(rec) gives, keys in another order: the
 * manifest last, its entries last), its manifest's entries given as their JSON `entriesJson`.
 */
export function recordJson<R extends { manifest: Manifest }>(
  rec: R & { entries?: never },
  entriesJson: string,
): string {
  const { manifest, ...rest } = rec;
  const { entries: _entries, ...header } = manifest;
  const head = JSON.stringify({ ...rest, manifest: header });
  // head ends with the manifest's and the record's closing braces
  return `${head.slice(0, -2)}${ENTRIES_KEY}${entriesJson}}}`;
}

/**
 * The JSON of the manifest's entries inside a record file's text written by recordJson, or null
 * for another layout (records written before recordJson put `tree` or `summary` after the
 * manifest). The first `,"entries":` is the manifest's key: inside a JSON string a quote is always
 * escaped, and no key before it is named so (the manifest's header has none, nor do the records'
 * other fields: a destination's seq, committedAt, tree; a source's summary).
 */
export function entriesJsonOf(text: string): string | null {
  if (!text.endsWith(']}}')) return null;
  const at = text.indexOf(ENTRIES_KEY);
  if (at < 0 || text[at + ENTRIES_KEY.length] !== '[') return null;
  return text.slice(at + ENTRIES_KEY.length, text.length - 2);
}

/** Per volume, the entries JSON of one manifest (its newest), when known. */
export class KeptEntries {
  private readonly byVolume = new Map<string, { id: string; json: string }>();

  /** Keeps `json` as manifest `id`'s entries; null (not known) or a too long text forgets the volume's. */
  keep(volume: string, id: string, json: string | null): void {
    if (json !== null && json.length <= MAX_KEPT_ENTRIES_JSON) this.byVolume.set(volume, { id, json });
    else this.byVolume.delete(volume);
  }

  /** The entries JSON kept for manifest `id` of `volume`, if that is the one kept. */
  of(volume: string, id: string | null | undefined): string | undefined {
    const k = this.byVolume.get(volume);
    return k && id !== null && id !== undefined && k.id === id ? k.json : undefined;
  }

  forget(volume: string): void {
    this.byVolume.delete(volume);
  }
}
