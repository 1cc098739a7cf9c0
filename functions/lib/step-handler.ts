import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy, { type MiddyfiedHandler } from '@middy/core';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { RetryableError, TerminalError } from '../../core/index.js';

export const logger = new Logger({ serviceName: 'release-captain' });
export const metrics = new Metrics({
  namespace: 'ReleaseCaptain',
  serviceName: 'release-captain',
  // Its own warnings (an invocation with no metric) go through the logger and its level.
  logger,
});
/** X-Ray tracing on Lambda; Powertools turns it off outside Lambda (tests, the local runtime). */
export const tracer = new Tracer({ serviceName: 'release-captain' });

/**
 * The one shape of every handler: Powertools tracing, logging and metrics, the input parsed by
 * its zod schema, one call into the core, the result returned. Errors leave with the
 * names the state machines match: a bad input is a `TerminalError` (retrying the same
 * input cannot help), a `RetryableError` or `TerminalError` from the core or an adapter
 * passes as it is, and anything else becomes a `RetryableError` (logged with its cause).
 *
 * @example
 * export const handler = stepHandler('advance-target', targetStepInput, (input) =>
 *   advanceTarget(ports, input),
 * );
 */
export function stepHandler<Schema extends z.ZodType, Output>(
  name: string,
  schema: Schema,
  run: (input: z.output<Schema>) => Promise<Output>,
): MiddyfiedHandler<unknown, Output, Error, Context> {
  return middy<unknown, Output, Error, Context>()
    .use(captureLambdaHandler(tracer))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use(stepErrors(name))
    .use(parser({ schema }) as middy.MiddlewareObj<unknown, Output, Error, Context>)
    .handler(async (event: unknown) => run(event as z.output<Schema>));
}

/** Maps what escapes a step to the error names the ASL retries or catches, and logs it. */
function stepErrors(name: string): middy.MiddlewareObj<unknown, unknown, Error, Context> {
  return {
    onError: async (request) => {
      const error = request.error;
      if (error === null) return;
      if (error.name === 'ParseError') {
        request.error = new TerminalError(
          `The ${name} step received input it cannot read (${describeIssues(error)}). The state machine and the handler are out of step; deploy them together.`,
          { cause: error },
        );
      }
      const known =
        request.error instanceof TerminalError || request.error instanceof RetryableError;
      if (!known) {
        // Step Functions invokes synchronously: nothing retries an error the ASL does not
        // name. An unexpected one (a bug, a TypeError, an SDK error an adapter missed) is
        // retried with backoff, and if it persists the execution ends and the reconciler
        // takes over.
        request.error = new RetryableError(
          `The ${name} step failed unexpectedly: ${request.error?.name}: ${request.error?.message}`,
          { cause: request.error },
        );
      }
      const mapped = request.error as Error;
      const terminal = mapped instanceof TerminalError;
      const retryable = mapped instanceof RetryableError;
      logger.error(`${name} failed`, { error: mapped, terminal, retryable });
      metrics.addMetric(terminal ? 'StepTerminalError' : 'StepRetryableError', 'Count', 1);
    },
  };
}

/** `seq: Too small: expected number to be >0; target: Invalid input` from a parse failure. */
function describeIssues(error: Error): string {
  // Powertools' ParseError carries the standard-schema issues as its cause.
  const issues = error.cause as { path?: PropertyKey[]; message: string }[] | undefined;
  if (!Array.isArray(issues) || issues.length === 0) return error.message;
  return issues
    .map((issue) => `${(issue.path ?? []).map(String).join('.') || 'input'}: ${issue.message}`)
    .join('; ');
}
