import {
  isServerError,
  isThrottlingError,
  isTransientError,
} from '@smithy/service-error-classification';
import { RetryableError, TerminalError } from '../../core/index.js';

/**
 * How an AWS adapter reports an SDK failure to its caller. The state machines retry what
 * is {@link RetryableError} (throttling, a service's 5xx, a dropped connection) with
 * backoff and catch what is {@link TerminalError} by name; so every adapter passes its SDK
 * errors through here instead of letting a raw `ThrottlingException` reach the ASL, where
 * no `Retry` clause names it.
 *
 * @example
 * try { await client.send(new DescribeAlarmsCommand(input)); }
 * catch (error) { throw awsError(error, 'DescribeAlarms for 3 alarms'); }
 * // ThrottlingException → RetryableError('DescribeAlarms for 3 alarms was throttled: Rate exceeded')
 * // AccessDeniedException → TerminalError('DescribeAlarms for 3 alarms was refused: … Check …')
 */
export function awsError(error: unknown, what: string): Error {
  if (error instanceof RetryableError || error instanceof TerminalError) return error;
  if (!(error instanceof Error)) return new TerminalError(`${what} failed: ${String(error)}`);
  const sdk = error as Error & {
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
    $fault?: string;
  };
  const classified = { ...sdk, name: sdk.name, $metadata: sdk.$metadata ?? {} };
  if (isThrottlingError(classified as never)) {
    return new RetryableError(`${what} was throttled: ${error.message}`, { cause: error });
  }
  if (
    isTransientError(classified as never) ||
    isServerError(classified as never) ||
    sdk.$retryable !== undefined
  ) {
    return new RetryableError(
      `${what} failed for a reason that may pass: ${error.name}: ${error.message}`,
      { cause: error },
    );
  }
  if (ACCESS_ERRORS.has(error.name)) {
    return new TerminalError(
      `${what} was refused (${error.name}): ${error.message}. Check that the role has the permission and, for another account, that its deploy role trusts the control plane.`,
      { cause: error },
    );
  }
  return new TerminalError(`${what} failed: ${error.name}: ${error.message}`, { cause: error });
}

const ACCESS_ERRORS = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnauthorizedOperation',
  'UnrecognizedClientException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
]);
