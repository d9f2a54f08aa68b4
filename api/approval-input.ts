// What POST /api/tasks/:key/approve and /reject accept. A body that parses but says nothing a task
// could take (no `by`, a rejection without a comment) is 422, as the validator's own refusals are;
// JSON that does not parse stays 400 (api/http.ts).
import { z } from 'zod';
import { UnprocessableInputError } from './errors.js';
import { firstIssue } from './task-input.js';

const text = (what: string, max: number) =>
  z
    .string({ error: (i) => (i.input === undefined ? `${what} is required` : `${what} must be a string`) })
    .trim()
    .max(max);

const by = text('"by"', 200).min(1, '"by" is required: say who decides, e.g. {"by": "alice"}');

const decisionFields = {
  by,
  comment: text('"comment"', 10_000).optional(),
  /** The approval stage meant: refused when the task waits in another one. */
  stage: text('"stage"', 200).min(1, '"stage" must not be empty').optional(),
  /** Where the decision came from, for the record: `orch` sends `cli`; the default is `api`. */
  via: z.enum(['api', 'cli']).optional(),
};

export const approveBodySchema = z.strictObject(decisionFields);

export const rejectBodySchema = z.strictObject({
  ...decisionFields,
  comment: text('"comment"', 10_000).min(1, 'a rejection needs a comment: it tells the stage that runs again what to change'),
});

export type DecisionBody = z.infer<typeof approveBodySchema>;

/** Parses a decision body or throws a 422 naming the first bad field and listing every issue. */
export function parseDecision(schema: z.ZodType<DecisionBody>, input: unknown): DecisionBody {
  const parsed = schema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const { message, field } = firstIssue(parsed.error);
  throw new UnprocessableInputError(message, { field, issues: parsed.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })) });
}
