// POST /v1/standby/:volume/build: the chunks of a coming restore point's large new files, named by
// the source as its snapshot cuts them, so the destination writes each file while its chunks
// arrive (destination/build.ts, source/prepare-hints.ts BuildHints). Body:
//   { for: <snapshot id>, files: [{ path, from, chunks: [[chunk hash hex, raw length], ...], done }] }
// `from` is the index of the first chunk named here in the file's chunk list (0, or as many as
// named before); `done` says the list is complete. Answer 202 { building: <files started> }.
import { badRequest, tooLarge } from '../errors.js';
import { isHashHex } from '../store/hash.js';
import type { ChunkRef } from './manifest.js';
import { isSnapshotId, pathProblem } from './manifest.js';
import type { Limits } from './limits.js';
import { MAX_BUILD_CHUNKS } from './limits.js';

/** Chunks `from` on of file `path`'s chunk list, and whether that completes it. */
export interface BuildPiece {
  path: string;
  from: number;
  chunks: ChunkRef[];
  done: boolean;
}

export interface BuildRequest {
  for: string;
  files: BuildPiece[];
}

const show = (v: unknown): string => JSON.stringify(v)?.slice(0, 80) ?? String(v);

/** Checks a build request's body; throws 400 naming the first bad field and its value. */
export function parseBuildRequest(body: unknown, limits: Limits): BuildRequest {
  const b = body as { for?: unknown; files?: unknown } | null;
  if (!isSnapshotId(b?.for)) throw badRequest(`for ${show(b?.for)}: not a restore point id`);
  if (!Array.isArray(b?.files)) throw badRequest(`files ${show(b?.files)}: must be an array`);
  let named = 0;
  const files = b.files.map((f: unknown, i: number) => {
    const at = `files[${i}]`;
    const x = f as { path?: unknown; from?: unknown; chunks?: unknown; done?: unknown } | null;
    const problem = pathProblem(x?.path, limits.maxPathLength);
    if (problem) throw badRequest(`${at}.path ${show(x?.path)}: ${problem}`);
    if (!Number.isSafeInteger(x?.from) || (x?.from as number) < 0)
      throw badRequest(`${at}.from ${show(x?.from)}: must be a chunk index (an integer >= 0)`);
    if (typeof x?.done !== 'boolean') throw badRequest(`${at}.done ${show(x?.done)}: must be true or false`);
    if (!Array.isArray(x?.chunks)) throw badRequest(`${at}.chunks ${show(x?.chunks)}: must be an array`);
    named += x.chunks.length;
    if (named > MAX_BUILD_CHUNKS)
      throw tooLarge(`files: more than ${MAX_BUILD_CHUNKS} chunks named in one request`);
    x.chunks.forEach((c: unknown, k: number) => {
      const pair = c as unknown[];
      if (
        !Array.isArray(pair) ||
        pair.length !== 2 ||
        !isHashHex(pair[0]) ||
        !Number.isSafeInteger(pair[1]) ||
        (pair[1] as number) < 1 ||
        (pair[1] as number) > limits.maxChunkSize
      )
        throw badRequest(
          `${at}.chunks[${k}] ${show(c)}: must be [64 hex digits, raw length 1..${limits.maxChunkSize}]`,
        );
    });
    return { path: x.path as string, from: x.from as number, chunks: x.chunks as ChunkRef[], done: x.done };
  });
  return { for: b.for, files };
}
