// Reading Temporal histories the way someone with access to the server would: without Ferry's
// codec, every byte of every event, for tests that look for what must not be stored in the clear.
import type { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';

export type History = temporal.api.history.v1.IHistory;

/** Every string and every byte field of a history (bytes as UTF-8 and as base64), concatenated. */
export function historyText(value: unknown): string {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (v === null || v === undefined) return;
    if (typeof v === 'string') out.push(v);
    else if (v instanceof Uint8Array) {
      const b = Buffer.from(v);
      out.push(b.toString('utf8'), b.toString('base64'));
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object') for (const x of Object.values(v)) walk(x);
    else out.push(String(v));
  };
  walk(value);
  return out.join('\n');
}

/**
 * The payloads of a history that a codec encodes: everything but search attributes and headers,
 * which Temporal never passes through a codec.
 */
export function codecPayloads(value: unknown): Payload[] {
  const out: Payload[] = [];
  const walk = (v: unknown, key: string): void => {
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return;
    if (key === 'searchAttributes' || key === 'header') return;
    if (Array.isArray(v)) return v.forEach((x) => walk(x, key));
    const o = v as Record<string, unknown>;
    if (o['metadata'] && typeof o['metadata'] === 'object' && 'data' in o && !Array.isArray(o['metadata'])) {
      out.push(o as Payload);
      return;
    }
    for (const [k, x] of Object.entries(o)) walk(x, k);
  };
  walk(value, '');
  return out;
}

/** Every workflow run in the client's namespace, with its full history. */
export async function allHistories(
  client: Client,
): Promise<Array<{ workflowId: string; runId: string; history: History }>> {
  const out: Array<{ workflowId: string; runId: string; history: History }> = [];
  for await (const wf of client.workflow.list()) {
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    out.push({ workflowId: wf.workflowId, runId: wf.runId, history });
  }
  return out;
}
