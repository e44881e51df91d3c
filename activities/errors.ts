// Failures as Temporal sees them: a bad input is non-retryable and names what is wrong; anything
// else (an outage) is a plain error that the retry policy retries.
import { ApplicationFailure } from '@temporalio/activity';
import { NON_RETRYABLE } from './types.js';

export type NonRetryableType = (typeof NON_RETRYABLE)[keyof typeof NON_RETRYABLE];

export function fail(type: NonRetryableType, message: string): never {
  throw ApplicationFailure.nonRetryable(message, type);
}
