// Failures as Temporal sees them: a bad input is non-retryable and names what is wrong; anything
// else (an outage) is a plain error that the retry policy retries.
import { ApplicationFailure } from '@temporalio/activity';
import { KubeError } from '../kube/client.js';
import { NON_RETRYABLE } from './types.js';

export type NonRetryableType = (typeof NON_RETRYABLE)[keyof typeof NON_RETRYABLE];

export function fail(type: NonRetryableType, message: string): never {
  throw ApplicationFailure.nonRetryable(message, type);
}

/**
 * An API server's 401 or 403 as a final failure: the credentials or RBAC will not change between
 * retries (retrying a 403 only delayed the failure by ~25 s), and the user has to act. Anything
 * else is returned unchanged.
 */
export function refusalIsFinal(err: unknown): unknown {
  if (!(err instanceof KubeError) || (err.code !== 401 && err.code !== 403)) return err;
  const hint =
    err.code === 403
      ? "the worker's ServiceAccount needs a RoleBinding to ClusterRole ferry-worker-namespace in that namespace"
      : "the worker's credentials were refused";
  return ApplicationFailure.nonRetryable(`${err.message} (${hint})`, NON_RETRYABLE.unauthorized);
}

/** Wraps an activity so that an API server's refusal ends it at once (see refusalIsFinal). */
export function finalOnRefusal<I, O>(activity: (input: I) => Promise<O>): (input: I) => Promise<O> {
  return async (input) => {
    try {
      return await activity(input);
    } catch (err) {
      throw refusalIsFinal(err);
    }
  };
}
