// What the task routes (and the Plane bridge) accept, as zod schemas, and how a refusal reads.
import { z } from 'zod';
import { InvalidInputError } from './errors.js';

export const taskKeySchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'a key is a letter then up to 63 letters, digits, _ or -, e.g. ORCH-90');

export const startTaskSchema = z.strictObject({
  key: taskKeySchema.optional(),
  repo: z.string().min(1),
  title: z.string().trim().min(1).max(500),
  description: z.string().max(100_000).optional(),
  dependsOn: z.array(taskKeySchema).max(50).optional(),
  planeIssueId: z.string().optional(),
  planeProjectId: z.string().optional(),
});
export type StartTaskBody = z.infer<typeof startTaskSchema>;

export const stopBodySchema = z.strictObject({ reason: z.string().max(2000).optional(), requestedBy: z.string().max(200).optional() });

/** The first issue, as `<field>: <message>`, and its field (`(body)` for the whole input). */
export function firstIssue(err: z.ZodError): { message: string; field: string } {
  const first = err.issues[0];
  const field = first?.path.join('.') || '(body)';
  return { message: `${field}: ${first?.message ?? 'invalid'}`, field };
}

/** Parses `input` or throws an InvalidInputError naming the first bad field and listing every issue. */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const { message, field } = firstIssue(parsed.error);
  throw new InvalidInputError(message, { field, issues: parsed.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })) });
}
