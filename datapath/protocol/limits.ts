// Bounds on everything an agent accepts from the network. Every one is configurable with an agent
// flag (workers/agent.ts); an input beyond a bound is refused with 413 or 400 naming the bound.
import { CHUNK_MAX } from '../store/chunker.js';

export interface Limits {
  /** Largest raw chunk accepted (bytes); the chunker never makes larger ones. */
  maxChunkSize: number;
  /** Largest file a manifest may describe (bytes). */
  maxFileSize: number;
  /** Most entries (files + dirs + symlinks) a manifest may hold. */
  maxEntries: number;
  /** Longest relative path (bytes, UTF-8). */
  maxPathLength: number;
  /** Largest manifest request body after decompression (bytes). */
  maxManifestBytes: number;
  /** Largest chunk upload request body (bytes). */
  maxBatchBytes: number;
  /** Most hashes in one `have` query. */
  maxHaveHashes: number;
  /** Largest JSON control request body (bytes). */
  maxJsonBytes: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxChunkSize: CHUNK_MAX,
  maxFileSize: 1024 ** 4,
  maxEntries: 5_000_000,
  maxPathLength: 4096,
  maxManifestBytes: 1024 ** 3,
  maxBatchBytes: 64 * 1024 ** 2,
  maxHaveHashes: 65_536,
  maxJsonBytes: 1024 ** 2,
};

/**
 * A changed file at least this large is patched from its previous version at the destination
 * (destination/tree.ts patchFile), so a source re-reading one names it ahead of the commit
 * (POST /v1/standby/:v/prepare, destination/prepare.ts).
 */
export const PATCH_MIN_BYTES = 1024 * 1024;

/**
 * New files at least this large are written by the destination while their chunks arrive
 * (destination/build.ts; the source names their chunks: source/prepare-hints.ts BuildHints).
 */
export const BUILD_MIN_BYTES = 8 * 1024 * 1024;
/** Chunks named per build request at most. */
export const MAX_BUILD_CHUNKS = 4096;

/** File paths per prepare request. */
export const MAX_PREPARE_PATHS = 256;
