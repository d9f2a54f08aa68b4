// The Plane reconciler's verdict on one work item (activities/plane-reconcile.ts lists the board;
// the worker wires this in). A work item in the start state whose task does not run is started,
// through the same idempotent start as the webhook (workflow id task-<KEY>, USE_EXISTING: webhook
// and reconciler together make one workflow); one in the STOP state whose task runs is stopped.
//
// "Does not run" is narrower than "has no live task", so the reconciler never undoes a person:
//   - a task that ended done or failed is not restarted (the task service refuses it anyway);
//   - a cancelled task is restarted only when the work item changed after the cancel (it was
//     moved back to the start state): one stopped through the API while the board still says
//     "To Analyse" stays stopped;
//   - a task already being stopped is not signalled again.
import type { Records } from '../../db/records.js';
import { isTerminal, type PlaneReconcileAction, type PlaneReconcileItem, type PlaneTaskPort } from '../../workflows/contracts/index.js';
import { taskKeySchema } from '../task-input.js';
import type { TaskService } from '../task-service.js';
import { createPlaneActions } from './act.js';
import type { PlaneBridgeConfig } from './config.js';
import { startCandidateOf, stopRefusal } from './decide.js';

export interface PlaneReconcileTargetDeps {
  tasks: Pick<TaskService, 'start' | 'stop'>;
  records: Pick<Records, 'taskByKey' | 'findByKey' | 'taskByPlaneIssueId'>;
  /** Live. */
  plane: PlaneBridgeConfig;
}

export function createPlaneReconcileTarget(d: PlaneReconcileTargetDeps): PlaneTaskPort {
  // Only start and stop are used: a comment's decision has no board state to reconcile.
  const act = createPlaneActions({ ...d, approvals: { decide: () => Promise.reject(new Error('not used by the reconciler')) } });
  return {
    async reconcile(item: PlaneReconcileItem): Promise<PlaneReconcileAction | null> {
      const project = d.plane.projects[item.projectId.toLowerCase()];
      if (!project) return null;
      const key = `${project.identifier}-${item.sequenceId}`;
      const done = (outcome: string): PlaneReconcileAction => ({ key, workItemId: item.workItemId, want: item.want, outcome });
      if (!taskKeySchema.safeParse(key).success) return done(`ignored: sequence id ${item.sequenceId} makes an invalid task key`);

      if (item.want === 'start') {
        const task = await d.records.findByKey(key);
        if (task && task.status !== 'cancelled') return null;
        if (task?.cancelledAt && !(item.updatedAt && Date.parse(item.updatedAt) > task.cancelledAt.getTime())) return null;
        const candidate = startCandidateOf(key, project, item.projectId, {
          id: item.workItemId,
          name: item.name,
          description_stripped: item.descriptionStripped,
          description_html: item.descriptionHtml,
        });
        const r = await act.start(key, candidate);
        // The webhook (or an earlier run) got there first: it matches after all.
        if (/^ignored: task \S+ is already running/.test(r.outcome)) return null;
        return done(r.outcome);
      }

      if (stopRefusal(d.plane, project)) return null;
      const task = await d.records.taskByKey(key);
      if (!task || isTerminal(task.status) || task.cancelRequestedAt) return null;
      const r = await act.stop(key, { reason: 'Plane STOP', requestedBy: 'plane:reconciler' });
      return done(r.outcome);
    },
  };
}
