// A task row as the operator sees it: under its own key, the tombstone (if any) beside it.
import { untombstone } from '../../db/records.js';
import type { Task } from '../../db/schema.js';

export function taskView(t: Task) {
  const key = untombstone(t.key);
  return {
    key,
    ...(key !== t.key ? { tombstone: t.key } : {}),
    repo: t.repo,
    title: t.title,
    stage: t.stage,
    status: t.status,
    workflowId: t.workflowId,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
    finishedAt: t.finishedAt,
    cancelRequestedAt: t.cancelRequestedAt,
    failureReason: t.failureReason,
  };
}
export type TaskViewRow = ReturnType<typeof taskView>;
