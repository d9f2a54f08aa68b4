// Acting on a claimed delivery (after it was answered) or on a work item the Plane reconciler
// found: start or stop the task through the task service, or decide its approval stage through
// the approval service. Starting a workflow, sending a signal or an update is the whole job:
// Temporal makes it durable. What the services refuse (the task already ended, is being stopped,
// is unknown, is not waiting for approval) is recorded `ignored: <why>`.
import type { Records } from '../../db/records.js';
import type { ApprovalDecision, StopRequest } from '../../workflows/contracts/index.js';
import type { ApprovalService, DecisionKind } from '../approvals.js';
import { TaskConflictError, TaskNotFoundError, TaskServiceError, WorkflowUnresponsiveError } from '../errors.js';
import { firstIssue, startTaskSchema } from '../task-input.js';
import type { TaskService } from '../task-service.js';
import type { PlaneBridgeConfig } from './config.js';
import type { StartRequestCandidate } from './decide.js';

/** What was done, as the delivery's row records it: its outcome and detail. */
export interface Acted {
  outcome: string;
  detail: string | null;
}

export interface PlaneActionDeps {
  tasks: Pick<TaskService, 'start' | 'stop'>;
  approvals: Pick<ApprovalService, 'decide'>;
  records: Pick<Records, 'taskByKey' | 'taskByPlaneIssueId'>;
  plane: Pick<PlaneBridgeConfig, 'startState'>;
}

const ignored = (why: string): Acted => ({ outcome: `ignored: ${why}`, detail: why });

export function createPlaneActions(d: PlaneActionDeps) {
  return {
    async start(key: string, candidate: StartRequestCandidate): Promise<Acted> {
      const parsed = startTaskSchema.safeParse(candidate);
      if (!parsed.success) {
        const { message: error } = firstIssue(parsed.error);
        return { outcome: `rejected: ${error}`, detail: error };
      }
      try {
        const started = await d.tasks.start(parsed.data);
        if (!started.existing) return { outcome: 'started', detail: `started ${started.workflowId} run ${started.runId}` };
        const task = await d.records.taskByKey(key);
        if (task?.cancelRequestedAt) return ignored(`task ${key} is being stopped; move it to "${d.plane.startState}" again once it is cancelled`);
        return ignored(`task ${key} is already running (${started.workflowId} run ${started.runId})`);
      } catch (err) {
        if (err instanceof TaskServiceError) return ignored(err.message);
        throw err;
      }
    },

    async stop(key: string, req: Required<StopRequest>): Promise<Acted> {
      try {
        const stopped = await d.tasks.stop(key, req);
        return { outcome: 'stop-signalled', detail: `stop signalled to ${stopped.workflowId} by ${req.requestedBy}` };
      } catch (err) {
        if (err instanceof TaskNotFoundError || err instanceof TaskConflictError) return ignored(err.message);
        throw err;
      }
    },

    /** The key of the work item's live task, or null when it has none. */
    async taskKeyOf(workItemId: string): Promise<string | null> {
      return (await d.records.taskByPlaneIssueId(workItemId))?.key ?? null;
    },

    async decide(key: string, kind: DecisionKind, req: ApprovalDecision & { via: string }): Promise<Acted> {
      try {
        const r = await d.approvals.decide(key, kind, req);
        return { outcome: 'decided', detail: `${r.stage} ${r.decision} by ${r.by} (plane comment)` };
      } catch (err) {
        // The validator's refusals (not waiting, already decided, no comment on a rejection) and a finished task.
        if (err instanceof TaskServiceError && !(err instanceof WorkflowUnresponsiveError)) {
          const refusal = err.details.refusal;
          return { outcome: `ignored: ${err.message}`, detail: refusal ? `${err.message} (${String(refusal)})` : err.message };
        }
        throw err;
      }
    },
  };
}
