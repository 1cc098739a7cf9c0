/**
 * Errors of the core. Two families, because the state machines treat them differently:
 * a {@link RetryableError} is worth trying again (another writer moved first, a
 * dependency was briefly unavailable), a {@link TerminalError} is not (bad input, a
 * decision the rules refuse). The state machines' `Retry` and `Catch` clauses match
 * these class names, so they are part of the contract: rename one and the ASL changes too.
 */

/** A failure that the same call, made again later, may not repeat. */
export class RetryableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RetryableError';
  }
}

/** A failure that repeating the call cannot fix. */
export class TerminalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

/** One problem found in a pipeline definition, located by its path. */
export interface DefinitionIssue {
  /** Where the bad value is, e.g. `stages[4].bake.minDataPoints`. */
  readonly path: string;
  /** What was expected and what was received, e.g. `expected a whole number ≥ 0, got -3`. */
  readonly message: string;
}

/** A pipeline definition that does not satisfy the schema or its cross-field rules. */
export class DefinitionError extends TerminalError {
  readonly issues: readonly DefinitionIssue[];

  constructor(issues: readonly DefinitionIssue[], options?: ErrorOptions) {
    const lines = issues.map((issue) => `  ${issue.path}: ${issue.message}`);
    super(`The pipeline definition is not valid:\n${lines.join('\n')}`, options);
    this.name = 'DefinitionError';
    this.issues = issues;
  }
}

/**
 * A rule refused a request because of the state it found, e.g. a rollback to a release
 * that was never approved in that target. Not retryable: the same state gives the same answer.
 */
export class RuleViolationError extends TerminalError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RuleViolationError';
  }
}

/** Something the caller named does not exist (a stage, a target, a release). */
export class NotFoundError extends TerminalError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NotFoundError';
  }
}

/**
 * A call from a workflow execution whose attempt is no longer its run's: the run was
 * started again (a restart after a crash, or a start relayed late from the outbox), so two
 * executions may be alive, and only the current one may drive the run. The call changes
 * nothing. Its name is not one the stage workflow catches or retries: the stale
 * execution ends at once, failed with this message, instead of running the "Fail the run"
 * step.
 */
export class StaleAttemptError extends TerminalError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StaleAttemptError';
  }
}

/**
 * A conditional write lost a race: the item changed since it was read. Reading again
 * and re-applying the rule is the fix, which is why this is retryable.
 */
export class ConflictError extends RetryableError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConflictError';
  }
}
