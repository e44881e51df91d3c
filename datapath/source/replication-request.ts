// Checks a replication request (POST /v1/replications) before anything runs: each bad field is a
// 400 naming the field and the value.
import type { DestinationSpec, ReplicationRequest } from '../protocol/agent-api.js';
import { badRequest } from '../errors.js';
import { isSnapshotId, isVolumeName } from '../protocol/manifest.js';

export function validateRequest(req: ReplicationRequest): void {
  if (typeof req !== 'object' || req === null) throw badRequest('replication request must be a JSON object');
  if (!isVolumeName(req.volume))
    throw badRequest(`volume ${JSON.stringify(req.volume)}: not a valid volume name`);
  if (req.id !== undefined && !isSnapshotId(req.id))
    throw badRequest(`id ${JSON.stringify(req.id)}: must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}`);
  validateDestination(req.destination);
  if (req.snapshotId !== undefined && !isSnapshotId(req.snapshotId))
    throw badRequest(`snapshotId ${JSON.stringify(req.snapshotId)}: not a snapshot id`);
  if (req.full !== undefined && typeof req.full !== 'boolean') throw badRequest('full: must be a boolean');
  if (req.mode !== undefined && typeof req.mode !== 'string') throw badRequest('mode: must be a string');
  if (req.streamDuringSnapshot !== undefined && typeof req.streamDuringSnapshot !== 'boolean')
    throw badRequest(`streamDuringSnapshot ${JSON.stringify(req.streamDuringSnapshot)}: must be a boolean`);
  if (req.awaitConfirm !== undefined && typeof req.awaitConfirm !== 'boolean')
    throw badRequest(`awaitConfirm ${JSON.stringify(req.awaitConfirm)}: must be a boolean`);
  if (req.retain !== undefined && !(Number.isInteger(req.retain) && req.retain >= 1 && req.retain <= 1000)) {
    throw badRequest(`retain ${JSON.stringify(req.retain)}: must be an integer in 1..1000`);
  }
  if (
    req.concurrency !== undefined &&
    !(Number.isInteger(req.concurrency) && req.concurrency >= 1 && req.concurrency <= 16)
  ) {
    throw badRequest(`concurrency ${JSON.stringify(req.concurrency)}: must be an integer in 1..16`);
  }
}

/** A destination as requests name it (a replication's, or a snapshot's to prepare): 400 naming the field. */
export function validateDestination(d: DestinationSpec | undefined, field = 'destination'): void {
  if (typeof d !== 'object' || d === null)
    throw badRequest(`${field}: required ({url, token, caCertPem?, volume?})`);
  let u: URL;
  try {
    u = new URL(d.url);
  } catch {
    throw badRequest(`${field}.url ${JSON.stringify(d.url)}: not a URL`);
  }
  if (u.protocol !== 'https:') throw badRequest(`${field}.url ${JSON.stringify(d.url)}: must be https`);
  if (typeof d.token !== 'string' || d.token.length === 0) throw badRequest(`${field}.token: required`);
  if (d.caCertPem !== undefined && typeof d.caCertPem !== 'string')
    throw badRequest(`${field}.caCertPem: must be a PEM string`);
  if (d.volume !== undefined && !isVolumeName(d.volume))
    throw badRequest(`${field}.volume ${JSON.stringify(d.volume)}: not a valid volume name`);
  if (d.dataUrl !== undefined) {
    try {
      if (!['https:', 'http:'].includes(new URL(d.dataUrl).protocol)) throw new Error('not http(s)');
    } catch {
      throw badRequest(
        `${field}.dataUrl ${JSON.stringify(d.dataUrl)}: must be an https URL (http only to a plaintext data port)`,
      );
    }
  }
}
