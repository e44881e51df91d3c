// A restore point's record file (`manifests/<id>.json`) as text, with its manifest's entries
// written last so the JSON of the entries can be taken from the text again and reused.
//
// Why: a commit whose tree equals the current restore point's (nothing changed) wrote the same
// entries again through JSON.stringify: 49 ms of an unchanged 2 GiB commit's ~100 ms (10,500
// entries, 3.7 MB; probe timings in that benchmark). StandbyManager keeps the entries' JSON of each
// volume's current restore point (from the commit that wrote it, or from its file on open) and
// writes an unchanged commit's record from it. Equal trees (sameTree) have equal entries JSON:
// validateManifest builds every entry with the same fields in the same order, and records read
// back were written by JSON.stringify.
import type { PointRecord } from './retention.js';

/** Entries JSON longer than this is not kept in memory (a volume of about three million files). */
export const MAX_KEPT_ENTRIES_JSON = 256 * 1024 * 1024;

const ENTRIES_KEY = ',"entries":';

/**
 * The record as JSON (the same value JSON.stringify(rec) gives, keys in another order), its
 * manifest's entries given as their JSON `entriesJson`.
 */
export function recordJson(rec: PointRecord, entriesJson: string): string {
  const { manifest, ...rest } = rec;
  const { entries: _entries, ...header } = manifest;
  const head = JSON.stringify({ ...rest, manifest: header });
  // head ends with the manifest's and the record's closing braces
  return `${head.slice(0, -2)}${ENTRIES_KEY}${entriesJson}}}`;
}

/**
 * The JSON of the manifest's entries inside a record file's text written by recordJson, or null
 * for another layout (records written before recordJson put `tree` after the manifest). The first
 * `,"entries":` is the manifest's key: inside a JSON string a quote is always escaped, and no key
 * before it is named so.
 */
export function entriesJsonOf(text: string): string | null {
  if (!text.endsWith(']}}')) return null;
  const at = text.indexOf(ENTRIES_KEY);
  if (at < 0 || text[at + ENTRIES_KEY.length] !== '[') return null;
  return text.slice(at + ENTRIES_KEY.length, text.length - 2);
}
