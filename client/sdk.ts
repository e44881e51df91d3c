// FerryClient: the typed SDK over @temporalio/client for Ferry's two workflows, used by the CLI
// for everything that talks to Temporal (docs/sdk.md; a runnable example in client/examples/).
//
//   const ferry = await FerryClient.connect();            // TEMPORAL_ADDRESS, FERRY_TASK_QUEUE, ...
//   await ferry.startMigration('mysql', 'now', { clusterPair: 'remote', namespaces: ['mysql'] });
//   for await (const p of ferry.migrationProgress('mysql', 'now')) console.log(p.status.stage);
//
// Migrations are `migration/<ns>/<name>` (query `status`); schedules `migrationschedule/<ns>/<name>`
// (signals `suspend`/`resume`, updates `triggerNow`/`updateSpec`, query `status`). Every failure a
// caller can act on is a FerryError whose message names the workflow and says why.

import {
  Client,
  Connection,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type { MigrationScheduleInput, MigrationSpecInput, MigrationStatus } from '../api/index.js';
import type { PolicyType } from '../schedule/policy-types.js';
import type { ScheduleStatusView } from '../workflows/migration-schedule.js';
import { connectionOptions, temporalConfig, type TemporalConfig } from './temporal.js';
import { codecKeysFromEnv, ferryDataConverter } from './payload-codec.js';

export type { ScheduleStatusView } from '../workflows/migration-schedule.js';
export type MigrationScheduleSpecInput = MigrationScheduleInput['spec'];

export class FerryError extends Error {
  constructor(
    message: string,
    /** `not-found` (no such workflow), `refused` (an update rejected), `failed`, `unreachable`. */
    readonly kind: 'not-found' | 'refused' | 'failed' | 'unreachable' = 'failed',
  ) {
    super(message);
    this.name = 'FerryError';
  }
}

export const MIGRATION_WORKFLOW = 'migrationWorkflow';
export const SCHEDULE_WORKFLOW = 'migrationScheduleWorkflow';
export const FINAL_STATUSES = ['Successful', 'PartialSuccess', 'Failed'] as const;

export const migrationId = (namespace: string, name: string): string => `migration/${namespace}/${name}`;
export const scheduleId = (namespace: string, name: string): string =>
  `migrationschedule/${namespace}/${name}`;

export interface FerryClientOptions extends Partial<Omit<TemporalConfig, 'tls'>> {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  /** How long to wait for the server at connect (default 10 s). */
  connectTimeoutMs?: number;
  /** How long a query may take before it counts as unanswered (default 10 s). */
  queryTimeoutMs?: number;
  /** The environment to read the twins from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** One volume's transfer: live from the transfer's heartbeat while it runs, else from the status. */
export interface VolumeProgress {
  namespace: string;
  pvc: string;
  volume: string;
  status: string;
  bytesDone: number;
  bytesTotal: number;
  /** True while the transfer runs (the numbers come from its last heartbeat). */
  live: boolean;
}

export interface MigrationProgress {
  /** When it was read (epoch ms). */
  at: number;
  status: MigrationStatus;
  volumes: VolumeProgress[];
  /** The migration has ended (Successful, PartialSuccess or Failed). */
  final: boolean;
}

export const isFinal = (status: Pick<MigrationStatus, 'status'> | undefined): boolean =>
  (FINAL_STATUSES as readonly string[]).includes(status?.status ?? '');

export class FerryClient {
  constructor(
    readonly temporal: Client,
    readonly taskQueue: string,
    private readonly queryTimeoutMs = 10_000,
    private readonly owned?: Connection,
  ) {}

  /** Connects as the worker does: options over TEMPORAL_* / FERRY_TASK_QUEUE over the defaults. */
  static async connect(opts: FerryClientOptions = {}): Promise<FerryClient> {
    const config = temporalConfig(opts, opts.env);
    let connection: Connection;
    try {
      connection = await Connection.connect({
        ...(await connectionOptions(config)),
        connectTimeout: opts.connectTimeoutMs ?? 10_000,
      });
    } catch (err) {
      throw new FerryError(
        `cannot reach Temporal at ${config.address}: ${(err as Error).message}`,
        'unreachable',
      );
    }
    // Encrypted payloads (FERRY_CODEC_KEYS_FILE / FERRY_CODEC_KEYS), as the worker writes them.
    const dataConverter = ferryDataConverter(await codecKeysFromEnv(opts.env ?? process.env));
    const client = new Client({
      connection,
      namespace: config.namespace,
      ...(dataConverter ? { dataConverter } : {}),
    });
    return new FerryClient(client, config.taskQueue, opts.queryTimeoutMs, connection);
  }

  /** Closes the connection this client opened (not one it was given). */
  async close(): Promise<void> {
    await this.owned?.close();
  }

  // --- migrations ---------------------------------------------------------------------------

  /** Starts `migration/<ns>/<name>`, which creates its Migration CR from `spec`; returns the id. */
  async startMigration(namespace: string, name: string, spec: MigrationSpecInput): Promise<string> {
    const workflowId = migrationId(namespace, name);
    await this.start(
      MIGRATION_WORKFLOW,
      workflowId,
      { namespace, name, spec },
      `Migration ${namespace}/${name}`,
    );
    return workflowId;
  }

  /** Cancels a migration: the agents stop its transfer, the standby keeps its last restore point. */
  async cancelMigration(namespace: string, name: string): Promise<void> {
    const id = migrationId(namespace, name);
    await this.call(id, () => this.temporal.workflow.getHandle(id).cancel());
  }

  /** The `status` query: Stork's Migration status (stage, status, volumes, resources, summary). */
  migrationStatus(namespace: string, name: string): Promise<MigrationStatus> {
    return this.query<MigrationStatus>(migrationId(namespace, name));
  }

  /** Waits for the migration to end; its final status (a failed one too). */
  async waitForMigration(namespace: string, name: string): Promise<MigrationStatus> {
    const id = migrationId(namespace, name);
    try {
      return (await this.temporal.workflow.getHandle(id).result()) as MigrationStatus;
    } catch (err) {
      if (err instanceof WorkflowFailedError) return this.migrationStatus(namespace, name);
      throw this.explain(id, err);
    }
  }

  /**
   * The migration's progress, every `intervalMs` (default 1 s), ending with its final state.
   * Volume bytes are live: read from the running transfers' heartbeats.
   */
  async *migrationProgress(
    namespace: string,
    name: string,
    opts: { intervalMs?: number; signal?: AbortSignal } = {},
  ): AsyncGenerator<MigrationProgress> {
    const id = migrationId(namespace, name);
    const handle = this.temporal.workflow.getHandle(id);
    for (;;) {
      let status: MigrationStatus;
      let live: Map<string, Heartbeat>;
      try {
        [status, live] = await Promise.all([this.migrationStatus(namespace, name), this.transfers(handle)]);
      } catch (err) {
        // A busy worker may answer a status query late: a watcher asks again next round.
        if (!(err instanceof FerryError && /DEADLINE_EXCEEDED/.test(err.message))) throw err;
        await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
        continue;
      }
      const final = isFinal(status) && status.stage === 'Final';
      yield { at: Date.now(), status, volumes: volumeProgress(status, live), final };
      if (final || opts.signal?.aborted) return;
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
    }
  }

  /**
   * Per volume, the last heartbeat of each running transfer, decoded as the worker encoded it
   * (through the payload codec when one is configured).
   */
  private async transfers(handle: WorkflowHandle): Promise<Map<string, Heartbeat>> {
    const out = new Map<string, Heartbeat>();
    const { payloadCodecs, payloadConverter } = this.temporal.options.loadedDataConverter;
    try {
      const d = await handle.describe();
      for (const a of d.raw.pendingActivities ?? []) {
        if (a.activityType?.name !== 'transferVolume') continue;
        const raw = a.heartbeatDetails?.payloads?.[0];
        if (!raw) continue;
        let payload: Payload = raw;
        for (const codec of [...payloadCodecs].reverse()) payload = (await codec.decode([payload]))[0]!;
        const hb = payloadConverter.fromPayload<Heartbeat>(payload);
        if (hb && typeof hb.volume === 'string') out.set(hb.volume, hb);
      }
    } catch {
      // No live numbers then; the status still answers.
    }
    return out;
  }

  // --- schedules ----------------------------------------------------------------------------

  /** Starts a schedule without a CR (`migrationschedule/<ns>/<name>`); its policy is read from the cluster. */
  async createSchedule(namespace: string, name: string, spec: MigrationScheduleSpecInput): Promise<string> {
    const workflowId = scheduleId(namespace, name);
    await this.start(
      SCHEDULE_WORKFLOW,
      workflowId,
      { namespace, name, spec },
      `MigrationSchedule ${namespace}/${name}`,
    );
    return workflowId;
  }

  suspendSchedule(namespace: string, name: string): Promise<void> {
    return this.signal(scheduleId(namespace, name), 'suspend');
  }

  resumeSchedule(namespace: string, name: string): Promise<void> {
    return this.signal(scheduleId(namespace, name), 'resume');
  }

  /**
   * Starts a migration now (the `triggerNow` update); resolves to its name. Refused, with the
   * reason, while one of the schedule's migrations runs.
   */
  async triggerSchedule(namespace: string, name: string, type?: PolicyType): Promise<string> {
    const id = scheduleId(namespace, name);
    return this.call(id, () =>
      this.temporal.workflow.getHandle(id).executeUpdate<string, [{ type?: PolicyType }]>('triggerNow', {
        args: [type ? { type } : {}],
      }),
    );
  }

  /** Replaces the schedule's spec (the `updateSpec` update); a bad spec is refused naming the field. */
  async updateScheduleSpec(namespace: string, name: string, spec: MigrationScheduleSpecInput): Promise<void> {
    const id = scheduleId(namespace, name);
    await this.call(id, () =>
      this.temporal.workflow.getHandle(id).executeUpdate<void, [unknown]>('updateSpec', { args: [spec] }),
    );
  }

  /** The `status` query: counts, per-type items, suspension, the next trigger. */
  scheduleStatus(namespace: string, name: string): Promise<ScheduleStatusView> {
    return this.query<ScheduleStatusView>(scheduleId(namespace, name));
  }

  // --- plumbing -----------------------------------------------------------------------------

  private async start(type: string, workflowId: string, input: object, summary: string): Promise<void> {
    await this.call(workflowId, () =>
      this.temporal.workflow.start(type, {
        taskQueue: this.taskQueue,
        workflowId,
        args: [input],
        staticSummary: summary,
      }),
    );
  }

  private async signal(id: string, name: string): Promise<void> {
    await this.call(id, () => this.temporal.workflow.getHandle(id).signal(name));
  }

  private query<T>(id: string): Promise<T> {
    return this.call(id, () =>
      this.temporal.connection.withDeadline(Date.now() + this.queryTimeoutMs, () =>
        this.temporal.workflow.getHandle(id).query<T>('status'),
      ),
    );
  }

  private async call<T>(id: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.explain(id, err);
    }
  }

  private explain(id: string, err: unknown): FerryError {
    if (err instanceof FerryError) return err;
    if (err instanceof WorkflowNotFoundError) return new FerryError(`workflow ${id} not found`, 'not-found');
    if (err instanceof WorkflowUpdateFailedError) return new FerryError(innermost(err), 'refused');
    const e = err as { name?: string; code?: number; message?: string };
    if (e.name === 'WorkflowExecutionAlreadyStartedError')
      return new FerryError(`workflow ${id} already exists`, 'refused');
    // gRPC DEADLINE_EXCEEDED (4) / UNAVAILABLE (14): nobody answered.
    if (e.code === 4)
      return new FerryError(
        `workflow ${id} did not answer (is a ferry worker polling ${this.taskQueue}?)`,
        'unreachable',
      );
    if (e.code === 14) return new FerryError(`cannot reach Temporal: ${e.message}`, 'unreachable');
    return new FerryError(`${id}: ${innermost(err)}`);
  }
}

/** What a running transferVolume heartbeats (activities/volumes.ts). */
interface Heartbeat {
  volume: string;
  phase?: string;
  bytesDone?: number;
  bytesTotal?: number;
}

/** The status's volumes, each with its transfer's last heartbeat while it runs. */
export function volumeProgress(
  status: MigrationStatus,
  live: ReadonlyMap<string, Heartbeat>,
): VolumeProgress[] {
  return (status.volumes ?? []).map((v) => {
    const hb = live.get(v.volume);
    return {
      namespace: v.namespace ?? '',
      pvc: v.persistentVolumeClaim ?? '',
      volume: v.volume ?? '',
      status: v.status ?? '',
      bytesDone: hb?.bytesDone ?? v.bytesDone ?? 0,
      bytesTotal: hb?.bytesTotal ?? v.bytesTotal ?? 0,
      live: hb !== undefined,
    };
  });
}

/** The innermost message: an update's ApplicationFailure, not its wrapper. */
function innermost(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause as { message?: string; cause?: unknown };
  return e?.message ?? String(err);
}
