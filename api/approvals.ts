// Deciding a task's approval stage: the path the API routes, `orch approve|reject` (through them)
// and Plane comments share. The decision is the task workflow's `approve` / `reject` Update, so
// its validator has the last word; this module only turns the answer into the API's errors.
//
// How the SDK answers (@temporalio/client 1.24, workflow-client.ts): a validator that throws makes
// the update's outcome a failure, and executeUpdate rejects with a WorkflowUpdateFailedError whose
// `cause` is the thrown ApplicationFailure (its `type` and `message` intact). A closed or unknown
// workflow is a gRPC NOT_FOUND, thrown as WorkflowNotFoundError; a call that outlives its
// deadline (no worker polls the task queue) is a WorkflowUpdateRPCTimeoutOrCancelledError.
import {
  ApplicationFailure,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import type { Records } from '../db/records.js';
import {
  approveUpdate,
  DECISION_REFUSALS,
  isTerminal,
  rejectUpdate,
  taskWorkflowId,
  type ApprovalDecision,
  type ApprovalRecord,
  type TaskWorkflow,
} from '../workflows/contracts/index.js';
import { TaskConflictError, TaskNotFoundError, UnprocessableInputError, WorkflowUnresponsiveError } from './errors.js';

export type DecisionKind = 'approve' | 'reject';

export interface ApprovalServiceDeps {
  client: Client;
  records: Pick<Records, 'findByKey'>;
  /** How long a decision may wait for the workflow to take it. Below Plane's 30 s delivery timeout. */
  deadlineMs?: number;
}

/** What a decision answers: the record the workflow keeps, under the task's key. */
export type Decided = ApprovalRecord & { key: string };

const DEFAULT_DEADLINE_MS = 20_000;

export function createApprovalService(d: ApprovalServiceDeps) {
  const deadlineMs = d.deadlineMs ?? DEFAULT_DEADLINE_MS;

  return {
    /** Sends the decision through the workflow's update; every refusal is a TaskServiceError. */
    async decide(key: string, kind: DecisionKind, decision: ApprovalDecision & { via: string }): Promise<Decided> {
      const task = await d.records.findByKey(key);
      if (task && isTerminal(task.status)) {
        throw new TaskConflictError(`task ${key} already ended ${task.status}; there is nothing to ${kind}`, { key, status: task.status });
      }
      // By workflow id alone: the update reaches the current run, also after a continue-as-new.
      const handle = d.client.workflow.getHandle<TaskWorkflow>(taskWorkflowId(key));
      const update = kind === 'approve' ? approveUpdate : rejectUpdate;
      try {
        const record = await d.client.withDeadline(Date.now() + deadlineMs, () => handle.executeUpdate(update, { args: [decision] }));
        return { key, ...record };
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError) throw refusal(key, err);
        if (err instanceof WorkflowNotFoundError) {
          if (!task) throw new TaskNotFoundError(key);
          throw new TaskConflictError(`task ${key} is not running (its workflow says: ${err.message}); there is nothing to ${kind}`, { key, status: task.status });
        }
        if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
          throw new WorkflowUnresponsiveError(
            `task ${key}'s workflow did not take the decision within ${deadlineMs / 1000} s: is a worker running for its task queue? ` +
              `The update may still be taken when one picks it up; check with \`orch status ${key}\``,
            { key },
          );
        }
        throw err;
      }
    },
  };
}
export type ApprovalService = ReturnType<typeof createApprovalService>;

/** The validator's refusal as the API's error: bad input 422, a task in no state to take it 409. */
function refusal(key: string, err: WorkflowUpdateFailedError): Error {
  const cause = err.cause;
  const message = cause?.message || err.message;
  const type = cause instanceof ApplicationFailure ? cause.type : undefined;
  const details = { key, refusal: type ?? null };
  if (type === DECISION_REFUSALS.invalid) return new UnprocessableInputError(message, details);
  // NotWaitingForApproval, AlreadyDecided, and anything else the workflow refuses (an old run
  // without the handler answers "No registered handler for update").
  return new TaskConflictError(message, details);
}
