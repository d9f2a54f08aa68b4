// What the task service refuses, in its own words. Each error carries the facts an answer needs
// (`details`: key, status, field, …); api/http.ts is the one place that turns them into HTTP.

export abstract class TaskServiceError extends Error {
  constructor(
    message: string,
    /** Merged into the JSON answer next to `error`. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A body, parameter or query that does not parse. */
export class InvalidInputError extends TaskServiceError {}

export class UnknownRepoError extends TaskServiceError {
  constructor(readonly repo: string) {
    super(`unknown repo "${repo}"`, { field: 'repo' });
  }
}

export class TaskNotFoundError extends TaskServiceError {
  constructor(readonly key: string) {
    super(`unknown task ${key}`, { key });
  }
}

/** The task exists but is in no state to do what was asked (it already ended, or is not running). */
export class TaskConflictError extends TaskServiceError {}

/** Well-formed input that asks for something no task could take (a decision without `by`, a stage that does not exist). */
export class UnprocessableInputError extends TaskServiceError {}

/** The task's workflow did not answer in time (no worker polls its queue, or Temporal is slow). */
export class WorkflowUnresponsiveError extends TaskServiceError {}

/** The message of anything thrown. */
export const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));
