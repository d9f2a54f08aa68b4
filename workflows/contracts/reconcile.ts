// The orphan sweep's report (`orch reconcile`, POST /api/reconcile).
import type { HostActivities, ReconcileActivities } from './activities.js';

export interface ReconcileReport {
  tasks: Awaited<ReturnType<ReconcileActivities['reconcileTasks']>>;
  hosts: (Awaited<ReturnType<HostActivities['reconcileHost']>> | { host: string; unreachable: string })[];
  branches: Awaited<ReturnType<ReconcileActivities['reconcileBranches']>>;
}

export type ReconcileWorkflow = () => Promise<ReconcileReport>;
