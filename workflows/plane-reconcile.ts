// The Plane reconciler's run, started by its Temporal Schedule (worker/plane-reconcile-schedule.ts):
// one activity lists the board and acts; its report is the run's result, which GET /queue shows.
import { proxyActivities } from '@temporalio/workflow';
import type { PlaneReconcileActivities, PlaneReconcileWorkflow } from './contracts/index.js';

// Rate-limit waits (Retry-After) happen inside the activity; a failed run is retried once, and
// the next scheduled run tries again anyway.
const { reconcilePlane } = proxyActivities<PlaneReconcileActivities>({ startToCloseTimeout: '10m', retry: { maximumAttempts: 2 } });

export const planeReconcile: PlaneReconcileWorkflow = async function planeReconcile() {
  return reconcilePlane();
};
