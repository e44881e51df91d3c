// What a failed call to an agent throws. An HTTP error answer becomes AgentApiError (status, code,
// retryable, details); a failure to reach the agent (refused, reset, timeout, TLS) becomes
// AgentUnreachableError (retryable); a replication that ends failed or cancelled makes
// waitForReplication throw ReplicationFailedError. http.ts maps answers and failures to these.
import type { ReplicationStatus } from '../protocol/agent-api.js';

export class AgentApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AgentApiError';
  }
}

export class AgentUnreachableError extends Error {
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentUnreachableError';
  }
}

export class ReplicationFailedError extends Error {
  constructor(readonly status: ReplicationStatus) {
    super(`replication ${status.id} ${status.phase}: ${status.error?.message ?? 'no error recorded'}`);
    this.name = 'ReplicationFailedError';
  }
}

/** True when retrying the failed operation may succeed (outage, not bad input). */
export function isRetryable(err: unknown): boolean {
  return (err instanceof AgentApiError && err.retryable) || err instanceof AgentUnreachableError;
}
