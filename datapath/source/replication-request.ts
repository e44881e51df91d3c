// Checks a replication request (POST /v1/replications) before anything runs: each bad field is a
// 400 naming the field and the value.
import type { ReplicationRequest } from '../protocol/agent-api.js';
import { badRequest } from '../errors.js';
import { isSnapshotId, isVolumeName } from '../protocol/manifest.js';

export function validateRequest(req: ReplicationRequest): void {
  if (typeof req !== 'object' || req === null) throw badRequest('replication request must be a JSON object');
  if (!isVolumeName(req.volume))
    throw badRequest(`volume ${JSON.stringify(req.volume)}: not a valid volume name`);
  if (req.id !== undefined && !isSnapshotId(req.id))
    throw badRequest(`id ${JSON.stringify(req.id)}: must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}`);
  const d = req.destination;
  if (typeof d !== 'object' || d === null)
    throw badRequest('destination: required ({url, token, caCertPem?, volume?})');
  let u: URL;
  try {
    u = new URL(d.url);
  } catch {
    throw badRequest(`destination.url ${JSON.stringify(d.url)}: not a URL`);
  }
  if (u.protocol !== 'https:') throw badRequest(`destination.url ${JSON.stringify(d.url)}: must be https`);
  if (typeof d.token !== 'string' || d.token.length === 0) throw badRequest('destination.token: required');
  if (d.caCertPem !== undefined && typeof d.caCertPem !== 'string')
    throw badRequest('destination.caCertPem: must be a PEM string');
  if (d.volume !== undefined && !isVolumeName(d.volume))
    throw badRequest(`destination.volume ${JSON.stringify(d.volume)}: not a valid volume name`);
  if (req.snapshotId !== undefined && !isSnapshotId(req.snapshotId))
    throw badRequest(`snapshotId ${JSON.stringify(req.snapshotId)}: not a snapshot id`);
  if (req.full !== undefined && typeof req.full !== 'boolean') throw badRequest('full: must be a boolean');
  if (req.mode !== undefined && typeof req.mode !== 'string') throw badRequest('mode: must be a string');
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
