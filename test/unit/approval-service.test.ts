// How api/approvals.ts turns what the Temporal client throws into the API's errors, and what the
// approval routes' bodies accept. The real update and its validator run in
// test/integration/approvals.test.ts; here the client is a stand-in throwing what the SDK throws.
import { ApplicationFailure, WorkflowNotFoundError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, type Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { approveBodySchema, parseDecision, rejectBodySchema } from '../../api/approval-input.js';
import { createApprovalService } from '../../api/approvals.js';
import { TaskConflictError, TaskNotFoundError, UnprocessableInputError, WorkflowUnresponsiveError } from '../../api/errors.js';
import { statusOf } from '../../api/http.js';
import type { Task } from '../../db/schema.js';
import { DECISION_REFUSALS } from '../../workflows/contracts/index.js';

const RECORD = { stage: 'design-approval', decision: 'approved' as const, by: 'alice', at: '2026-12-01T14:00:05.118Z', via: 'api' };

function service(o: { row?: Partial<Task> | null; update?: () => Promise<unknown> }) {
  const calls: { workflowId: string; update: string; args: unknown[]; deadline: number }[] = [];
  let deadline = 0;
  const client = {
    withDeadline: (at: number, fn: () => Promise<unknown>) => ((deadline = at), fn()),
    workflow: {
      getHandle: (workflowId: string) => ({
        executeUpdate: (def: { name: string }, opts: { args: unknown[] }) => {
          calls.push({ workflowId, update: def.name, args: opts.args, deadline });
          return o.update ? o.update() : Promise.resolve(RECORD);
        },
      }),
    },
  } as unknown as Client;
  const records = { findByKey: async () => (o.row === undefined ? ({ key: 'DEMO-7', status: 'running' } as Task) : (o.row as Task | null)) };
  return { approvals: createApprovalService({ client, records }), calls };
}
const refused = (type: string, message: string) => () => Promise.reject(new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.create({ type, message, nonRetryable: true })));
const decide = (s: ReturnType<typeof service>) => s.approvals.decide('DEMO-7', 'approve', { by: 'alice', via: 'api' }).then(() => null, (e: unknown) => e);

describe('the approval service', () => {
  it('sends the decision to the task workflow by id (the current run, after a continue-as-new too), under a deadline', async () => {
    const s = service({});
    const before = Date.now();
    expect(await s.approvals.decide('DEMO-7', 'reject', { by: 'alice', comment: 'no', via: 'cli' })).toEqual({ key: 'DEMO-7', ...RECORD });
    expect(s.calls).toEqual([{ workflowId: 'task-DEMO-7', update: 'reject', args: [{ by: 'alice', comment: 'no', via: 'cli' }], deadline: expect.any(Number) }]);
    expect(s.calls[0]!.deadline - before).toBeGreaterThanOrEqual(20_000);
    expect(s.calls[0]!.deadline - before).toBeLessThan(25_000);
  });

  it('answers the validator\'s refusals with its message: 422 for a bad decision, 409 for a task in no state to take it', async () => {
    for (const [type, Err, status] of [
      [DECISION_REFUSALS.invalid, UnprocessableInputError, 422],
      [DECISION_REFUSALS.notWaiting, TaskConflictError, 409],
      [DECISION_REFUSALS.alreadyDecided, TaskConflictError, 409],
      ['SomethingElse', TaskConflictError, 409],
    ] as const) {
      const err = await decide(service({ update: refused(type, `why ${type}`) }));
      expect(err, type).toBeInstanceOf(Err);
      expect((err as TaskConflictError).message).toBe(`why ${type}`);
      expect((err as TaskConflictError).details).toEqual({ key: 'DEMO-7', refusal: type });
      expect(statusOf(err as TaskConflictError)).toBe(status);
    }
  });

  it('an ended task is 409 without asking Temporal; a workflow Temporal does not know is 404, or 409 for a task orch has a row of', async () => {
    const ended = service({ row: { key: 'DEMO-7', status: 'done' } });
    const err = await decide(ended);
    expect(err).toBeInstanceOf(TaskConflictError);
    expect((err as Error).message).toBe('task DEMO-7 already ended done; there is nothing to approve');
    expect(ended.calls).toEqual([]);

    const notFound = () => Promise.reject(new WorkflowNotFoundError('workflow execution already completed', 'task-DEMO-7', undefined));
    expect(await decide(service({ row: null, update: notFound }))).toBeInstanceOf(TaskNotFoundError);
    const ghost = await decide(service({ update: notFound }));
    expect(ghost).toBeInstanceOf(TaskConflictError);
    expect((ghost as Error).message).toContain('workflow execution already completed');
  });

  it('no worker to take the decision in time is 503, saying the update may still be taken', async () => {
    const err = await decide(service({ update: () => Promise.reject(new WorkflowUpdateRPCTimeoutOrCancelledError('deadline exceeded')) }));
    expect(err).toBeInstanceOf(WorkflowUnresponsiveError);
    expect(statusOf(err as WorkflowUnresponsiveError)).toBe(503);
    expect((err as Error).message).toMatch(/within 20 s: is a worker running .* may still be taken/);
  });
});

describe('the approval routes\' bodies', () => {
  it('need `by`, and a comment to reject; they trim and keep the rest', () => {
    expect(parseDecision(approveBodySchema, { by: ' alice ', comment: ' ok ', stage: 'design-approval', via: 'cli' })).toEqual({ by: 'alice', comment: 'ok', stage: 'design-approval', via: 'cli' });
    expect(parseDecision(rejectBodySchema, { by: 'alice', comment: 'split it' })).toEqual({ by: 'alice', comment: 'split it' });
    for (const [schema, body, field, message] of [
      [approveBodySchema, undefined, 'by', 'by: "by" is required'],
      [approveBodySchema, { by: '' }, 'by', 'by: "by" is required: say who decides, e.g. {"by": "alice"}'],
      [approveBodySchema, { by: 7 }, 'by', 'by: "by" must be a string'],
      [approveBodySchema, { by: 'a', via: 'plane' }, 'via', 'via:'],
      [approveBodySchema, { by: 'a', stage: '' }, 'stage', 'stage: "stage" must not be empty'],
      [rejectBodySchema, { by: 'a' }, 'comment', 'comment: "comment" is required'],
      [rejectBodySchema, { by: 'a', comment: '  ' }, 'comment', 'comment: a rejection needs a comment'],
    ] as const) {
      let err: unknown;
      try {
        parseDecision(schema, body);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(body)).toBeInstanceOf(UnprocessableInputError);
      expect((err as UnprocessableInputError).message, JSON.stringify(body)).toContain(message);
      expect((err as UnprocessableInputError).details.field).toBe(field);
    }
  });
});
