import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import os from 'node:os';
import * as activities from '../fixtures/smoke/activities.js';
import { harness } from '../harness/context.js';

describe('Temporal dev server (real, shared by the run)', () => {
  it('runs a workflow whose activity executes in this worker, and records it in history', async () => {
    const { env, workflowBundlePath } = harness();
    const taskQueue = `smoke-${process.pid}-${Date.now()}`;
    const nativeConnection = await NativeConnection.connect({ address: env.temporal.address });
    const connection = await Connection.connect({ address: env.temporal.address });
    try {
      const worker = await Worker.create({
        connection: nativeConnection,
        namespace: env.temporal.namespace,
        taskQueue,
        workflowBundle: { codePath: workflowBundlePath },
        activities,
      });
      const client = new Client({ connection, namespace: env.temporal.namespace });
      const workflowId = `smoke-roundtrip-${Date.now()}`;
      const result = await worker.runUntil(
        client.workflow.execute('smokeRoundTrip', { taskQueue, workflowId, args: ['hello ferry'] }),
      );
      expect(result).toEqual({ greeting: 'HELLO FERRY', pid: process.pid, host: os.hostname() });

      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      const types = (history.events ?? []).map((e) => String(e.eventType));
      expect(types.filter((t) => t.includes('ACTIVITY_TASK_COMPLETED') || t === '12')).toHaveLength(1);
      const described = await client.workflow.getHandle(workflowId).describe();
      expect(described.status.name).toBe('COMPLETED');
    } finally {
      await connection.close();
      await nativeConnection.close();
    }
  });
});
