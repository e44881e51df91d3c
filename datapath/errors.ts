// Typed errors of the data path. An AgentError carries the HTTP status the agent answers with, a
// stable machine-readable code, and whether retrying can help (an outage: yes; a bad input: no).
// The same shape travels over the wire as `{"error":{"code","message","retryable"}}` and the
// client turns it back into an AgentApiError (datapath/client/client.ts).

export type ErrorCode =
  | 'bad_request'
  | 'invalid_manifest'
  | 'hash_mismatch'
  | 'too_large'
  | 'unauthorized'
  | 'too_many_auth_failures'
  | 'not_found'
  | 'conflict'
  | 'missing_chunks'
  | 'unknown_base'
  | 'unsafe_volume'
  | 'interrupted'
  | 'unavailable'
  | 'cancelled'
  | 'no_space'
  | 'internal';

export class AgentError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly retryable = status >= 500 || status === 409,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AgentError';
  }
}

export const badRequest = (message: string): AgentError => new AgentError(400, 'bad_request', message, false);
export const invalidManifest = (message: string): AgentError =>
  new AgentError(400, 'invalid_manifest', message, false);
export const tooLarge = (message: string): AgentError => new AgentError(413, 'too_large', message, false);
export const notFound = (message: string): AgentError => new AgentError(404, 'not_found', message, false);
export const hashMismatch = (message: string): AgentError =>
  new AgentError(422, 'hash_mismatch', message, false);

/**
 * A full disk (ENOSPC, or EDQUOT: over quota) is 507 no_space, not retryable: retrying at once
 * cannot help, and the caller must say that the disk is full rather than "internal error".
 */
export function noSpace(err: unknown): AgentError | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return undefined;
  const detail = (err as Error).message.replace(/^E[A-Z]+: /, '');
  return new AgentError(507, 'no_space', `disk full (${code}): ${detail}`, false);
}

/** The body of every error response. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; retryable: boolean; details?: Record<string, unknown> };
}

export function errorBody(err: AgentError): ErrorBody {
  return {
    error: {
      code: err.code,
      message: err.message,
      retryable: err.retryable,
      ...(err.details ? { details: err.details } : {}),
    },
  };
}
