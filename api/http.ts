// The HTTP edges every route shares: the bearer token, and the one place errors become answers.
import { timingSafeEqual } from 'node:crypto';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { InvalidInputError, TaskConflictError, TaskNotFoundError, TaskServiceError, UnknownRepoError, UnprocessableInputError, WorkflowUnresponsiveError } from './errors.js';

/** Bearer-token check; without a token (loopback only) every request passes. */
export function requireToken(token: string | undefined): RequestHandler {
  const expected = token ? Buffer.from(`Bearer ${token}`) : null;
  return (req, res, next) => {
    if (!expected) return next();
    const got = Buffer.from(req.get('authorization') ?? '');
    if (got.length === expected.length && timingSafeEqual(got, expected)) return next();
    res.status(401).json({ error: 'missing or wrong bearer token (ORCH_API_TOKEN)' });
  };
}

const STATUS_OF = new Map<abstract new (...args: never[]) => TaskServiceError, number>([
  [InvalidInputError, 400],
  [UnknownRepoError, 404],
  [TaskNotFoundError, 404],
  [TaskConflictError, 409],
  [UnprocessableInputError, 422],
  [WorkflowUnresponsiveError, 503],
]);

/** The HTTP status of a task service refusal. */
export function statusOf(err: TaskServiceError): number {
  for (const [type, status] of STATUS_OF) if (err instanceof type) return status;
  return 400;
}

export const noSuchRoute: RequestHandler = (_req, res) => {
  res.status(404).json({ error: 'no such route' });
};

/** express 5 forwards rejected promises here: domain errors, body-parser failures, the unexpected. */
export const errorHandler: ErrorRequestHandler = (err: unknown, _req, res, _next) => {
  if (err instanceof TaskServiceError) return void res.status(statusOf(err)).json({ error: err.message, ...err.details });
  const e = err as { type?: string; message?: string };
  if (e?.type === 'entity.parse.failed') return void res.status(400).json({ error: `malformed JSON: ${e.message}` });
  if (e?.type === 'entity.too.large') return void res.status(413).json({ error: 'request body too large' });
  res.status(500).json({ error: e?.message ?? 'internal error' });
};
