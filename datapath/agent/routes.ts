// The agent's route tables (see agent-api.ts for the full list and payloads).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AgentError, badRequest, notFound } from '../errors.js';
import { isSnapshotId, validateManifest, wireManifest } from '../protocol/manifest.js';
import { applyManifestDelta, isManifestDelta, unknownBase } from '../protocol/manifest-delta.js';
import { answerHave, receiveChunks } from '../destination/receive.js';
import {
  DESTINATION_CHECK_MS,
  MAX_REPLICATION_WAIT_MS,
  REPLICATION_PHASES,
  type ReplicationPhase,
  type ReplicationRequest,
  type SnapshotRequest,
} from '../protocol/agent-api.js';
import { snapshotHints } from '../source/prepare-hints.js';
import { validateDestination } from '../source/replication-request.js';
import { HASH_HEADER, SESSION_HEADER } from '../protocol/wire.js';
import { HASHES_AVAILABLE, type HashAlgorithm, isHashAvailable } from '../store/hash.js';
import { MAX_PREPARE_PATHS } from '../protocol/limits.js';
import { parseBuildRequest } from '../protocol/build-hints.js';
import type { AgentContext } from './context.js';
import { parseJson, readBody, readDecodedBody, readJson, sendJson } from './http.js';

export interface RouteCtx {
  req: IncomingMessage;
  res: ServerResponse;
  params: string[];
  query: URLSearchParams;
}

export interface Route {
  method: string;
  pattern: RegExp;
  handler: (ctx: RouteCtx) => Promise<void>;
}

const SEG = '([^/]+)';

function route(method: string, path: string, handler: Route['handler']): Route {
  return { method, pattern: new RegExp(`^${path.replace(/:[a-z]+/g, SEG)}$`), handler };
}

function param(ctx: RouteCtx, i: number): string {
  try {
    return decodeURIComponent(ctx.params[i] as string);
  } catch {
    throw badRequest('malformed URL escape in path');
  }
}

function intParam(q: URLSearchParams, name: string, min = 1, max = 1000): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw badRequest(`${name} ${JSON.stringify(v)}: must be an integer in ${min}..${max}`);
  return n;
}

/** ?phase=P&waitMs=N of GET /v1/replications/:id (both or neither). */
function waitParams(q: URLSearchParams): { phase: ReplicationPhase; waitMs: number } | null {
  const waitMs = intParam(q, 'waitMs', 0, MAX_REPLICATION_WAIT_MS);
  const phase = q.get('phase');
  if (waitMs === undefined && phase === null) return null;
  if (waitMs === undefined || phase === null) throw badRequest('phase and waitMs: give both or neither');
  if (!(REPLICATION_PHASES as readonly string[]).includes(phase))
    throw badRequest(`phase ${JSON.stringify(phase)}: must be one of ${REPLICATION_PHASES.join(', ')}`);
  return { phase: phase as ReplicationPhase, waitMs };
}

function sessionOf(ctx: RouteCtx): string | undefined {
  const s = ctx.req.headers[SESSION_HEADER];
  if (s === undefined) return undefined;
  if (typeof s !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(s))
    throw badRequest(`${SESSION_HEADER}: must match [A-Za-z0-9._-]{1,128}`);
  return s;
}

/** The upload's X-Ferry-Hash: absent, or an algorithm this agent can compute (else 400). */
function hashOf(ctx: RouteCtx): HashAlgorithm | undefined {
  const h = ctx.req.headers[HASH_HEADER];
  if (h === undefined) return undefined;
  if (!isHashAvailable(h))
    throw badRequest(
      `${HASH_HEADER} ${JSON.stringify(h)}: this agent checks chunks named by ${HASHES_AVAILABLE.join(', ')}`,
    );
  return h;
}

export function controlRoutes(a: AgentContext): Route[] {
  return [
    route('GET', '/metrics', async ({ res }) => {
      const body = await a.metrics.render();
      res.writeHead(200, {
        'content-type': a.metrics.contentType,
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    }),
    route('GET', '/v1/info', async ({ res }) => sendJson(res, 200, a.info())),
    route('GET', '/v1/volumes', async ({ res }) =>
      sendJson(res, 200, { volumes: await a.snapshots.listVolumes() }),
    ),
    route('PUT', '/v1/volumes/:v', async (c) =>
      sendJson(c.res, 200, await a.snapshots.createVolume(param(c, 0))),
    ),
    route('GET', '/v1/volumes/:v', async (c) =>
      sendJson(c.res, 200, await a.snapshots.getVolume(param(c, 0))),
    ),
    route('POST', '/v1/volumes/:v/snapshots', async (c) => {
      const body = (await readJson(c.req, a.limits.maxJsonBytes)) as Record<string, unknown> &
        SnapshotRequest;
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw badRequest('snapshot request must be a JSON object');
      if (body.full !== undefined && typeof body.full !== 'boolean')
        throw badRequest('full: must be a boolean');
      if (body.parent !== undefined && typeof body.parent !== 'string')
        throw badRequest('parent: must be a snapshot id');
      if (body.destination !== undefined) validateDestination(body.destination);
      const volume = param(c, 0);
      const hints = body.destination ? snapshotHints(body.destination, volume) : null;
      try {
        const s = await a.snapshots.take(volume, {
          ...(body.full !== undefined ? { full: body.full } : {}),
          ...(body.parent !== undefined ? { parent: body.parent } : {}),
          ...(hints && !body.full ? { onReread: hints.add } : {}),
        });
        sendJson(c.res, 201, s);
      } finally {
        hints?.end();
      }
    }),
    route('GET', '/v1/volumes/:v/snapshots', async (c) => {
      await a.snapshots.getVolume(param(c, 0));
      sendJson(c.res, 200, { snapshots: a.snapshots.list(param(c, 0)) });
    }),
    route('GET', '/v1/volumes/:v/snapshots/:id', async (c) =>
      sendJson(c.res, 200, a.snapshots.get(param(c, 0), param(c, 1))),
    ),
    route('GET', '/v1/volumes/:v/snapshots/:id/manifest', async (c) =>
      sendJson(c.res, 200, wireManifest(a.snapshots.manifest(param(c, 0), param(c, 1)))),
    ),
    route('DELETE', '/v1/volumes/:v/snapshots/:id', async (c) => {
      await a.snapshots.delete(param(c, 0), param(c, 1));
      sendJson(c.res, 204, undefined);
    }),
    route('POST', '/v1/replications', async (c) => {
      const body = await readJson(c.req, a.limits.maxJsonBytes);
      sendJson(c.res, 202, a.replications.start(body as ReplicationRequest));
    }),
    route('GET', '/v1/replications', async ({ res }) =>
      sendJson(res, 200, { replications: a.replications.list() }),
    ),
    route('GET', '/v1/replications/:id', async (c) => {
      const wait = waitParams(c.query);
      const id = param(c, 0);
      sendJson(
        c.res,
        200,
        wait ? await a.replications.getAfter(id, wait.phase, wait.waitMs) : a.replications.get(id),
      );
    }),
    route('GET', '/v1/replications/:id/destination', async (c) => {
      const { min, max, default: dflt } = DESTINATION_CHECK_MS;
      const timeoutMs = intParam(c.query, 'timeoutMs', min, max) ?? dflt;
      sendJson(c.res, 200, await a.replications.askDestination(param(c, 0), timeoutMs));
    }),
    route('DELETE', '/v1/replications/:id', async (c) =>
      sendJson(c.res, 200, a.replications.cancel(param(c, 0))),
    ),
    route('GET', '/v1/standby', async ({ res }) => sendJson(res, 200, { standby: a.standby.list() })),
    route('GET', '/v1/standby/:v', async (c) => sendJson(c.res, 200, a.standby.get(param(c, 0)))),
    route('GET', '/v1/standby/:v/restore-points/:id/manifest', async (c) =>
      sendJson(c.res, 200, a.standby.manifest(param(c, 0), param(c, 1))),
    ),
    route('POST', '/v1/standby/:v/commit', async (c) => {
      const volume = param(c, 0);
      const session = sessionOf(c);
      const body = await readDecodedBody(c.req, a.limits.maxManifestBytes, a.limits.maxManifestBytes);
      const parsed = parseJson(body);
      let input: unknown = parsed;
      let trusted: Set<unknown> | undefined;
      if (isManifestDelta(parsed)) {
        const d = parsed as Record<string, unknown>;
        let base;
        try {
          base = typeof d.base === 'string' ? a.standby.manifest(volume, d.base) : undefined;
        } catch {
          base = undefined;
        }
        if (!base) throw unknownBase(d.base);
        input = applyManifestDelta(d, base, a.limits);
        trusted = new Set(base.entries);
      }
      const manifest = validateManifest(input, a.limits, trusted);
      const pin = session ? a.session(session) : undefined;
      const result = await a.standby.commit(volume, manifest, {
        ...(intParam(c.query, 'retain') !== undefined ? { retain: intParam(c.query, 'retain') } : {}),
        full: c.query.get('full') === '1',
        ...(pin ? { pin } : {}),
      });
      if (session) a.endSession(session);
      a.log('info', 'standby committed', {
        volume,
        restorePoint: result.restorePoint.id,
        previous: result.previous,
        pruned: result.pruned,
        filesWritten: result.filesWritten,
        filesLinked: result.filesLinked,
        chunksInFiles: a.standby.files.size,
        chunksIntoFilesTotal: a.standby.builds.counts.offered,
      });
      sendJson(c.res, 200, result);
    }),
    route('POST', '/v1/standby/:v/prepare', async (c) => {
      const body = (await readJson(c.req, a.limits.maxJsonBytes)) as { paths?: unknown; for?: unknown };
      const paths = body?.paths;
      if (body?.for !== undefined && !isSnapshotId(body.for))
        throw badRequest(`for ${JSON.stringify(body.for)}: not a restore point id`);
      if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string'))
        throw badRequest('paths: must be an array of file paths (strings)');
      if (paths.length > MAX_PREPARE_PATHS)
        throw badRequest(`paths: ${paths.length} paths exceed the limit of ${MAX_PREPARE_PATHS} per request`);
      const preparing = a.standby.prepare(param(c, 0), paths as string[], body.for as string | undefined);
      sendJson(c.res, 202, { preparing });
    }),
    route('POST', '/v1/standby/:v/build', async (c) => {
      const req = parseBuildRequest(await readJson(c.req, a.limits.maxJsonBytes), a.limits);
      const building = await a.standby.build(param(c, 0), req.for, req.files);
      sendJson(c.res, 202, { building });
    }),
    route('POST', '/v1/standby/:v/promote', async (c) => {
      const body = (await readJson(c.req, a.limits.maxJsonBytes)) as {
        restorePoint?: unknown;
        target?: unknown;
        replace?: unknown;
      };
      if (body.restorePoint !== undefined && typeof body.restorePoint !== 'string')
        throw badRequest('restorePoint: must be a string');
      if (body.target !== undefined && typeof body.target !== 'string')
        throw badRequest('target: must be a string');
      if (body.replace !== undefined && typeof body.replace !== 'boolean')
        throw badRequest('replace: must be a boolean');
      const r = await a.standby.promote(param(c, 0), a.snapshots.volumesDir, {
        ...(body.restorePoint ? { restorePoint: body.restorePoint } : {}),
        ...(body.target ? { target: body.target } : {}),
        ...(body.replace ? { replace: true } : {}),
      });
      sendJson(c.res, 200, r);
    }),
  ];
}

export function dataRoutes(a: AgentContext): Route[] {
  return [
    route('POST', '/v1/chunks/have', async (c) => {
      const session = sessionOf(c);
      const body = await readBody(c.req, a.limits.maxHaveHashes * 32);
      const answer = await answerHave(a.store, body, {
        verify: c.query.get('verify') === '1',
        limits: a.limits,
        ...(session ? { pin: a.session(session) } : {}),
      });
      c.res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': answer.length });
      c.res.end(answer);
    }),
    route('POST', '/v1/chunks', async (c) => {
      const session = sessionOf(c);
      const pin = session ? a.session(session) : undefined;
      const hash = hashOf(c);
      const r = await receiveChunks(a.store, c.req as AsyncIterable<Buffer>, {
        ...(hash ? { hash } : {}),
        limits: a.limits,
        compress: a.info().compress,
        ...(pin ? { pin } : {}),
        batch: (pin?.hashes.size ?? 0) >= DIRECT_AFTER_CHUNKS,
        ranges: a.standby.ranges,
        divert: (hex, raw) => a.standby.builds.offer(hex, raw),
        onChunk: (bytes, wasNew) => a.onChunkReceived(bytes, wasNew),
      });
      sendJson(c.res, 200, r);
    }),
  ];
}

/**
 * Uploads of a session that has already brought this many chunks (about 768 MiB of average
 * chunks) store them in batches written with O_DIRECT, not chunk by chunk through the page cache:
 * measured faster for a 2 GiB full copy and slower for a 512 MiB one (receive.ts).
 */
export const DIRECT_AFTER_CHUNKS = 12_288;

export function notFoundRoute(req: IncomingMessage): AgentError {
  return notFound(`no route for ${req.method} ${(req.url ?? '').split('?')[0]}`);
}
