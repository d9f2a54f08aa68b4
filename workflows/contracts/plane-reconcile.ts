// The Plane reconciler (a Temporal Schedule runs workflows/plane-reconcile.ts every
// ORCH_PLANE_RECONCILE_INTERVAL): it lists the work items of each configured project that sit in
// the start or the STOP state and acts on any whose task does not match, so a move the webhook
// never saw (PostgreSQL down, Plane's delivery dropped) is not lost. Types only.

/** What the reconciler reads of orch's Plane config. */
export interface PlaneReconcileConfig {
  /** Plane project id (lower-case) → identifier (task keys) and repo. */
  projects: Record<string, { identifier: string; repo: string }>;
  startState: string;
  stopState: string;
}

/** A work item found in the start or the STOP state. */
export interface PlaneReconcileItem {
  projectId: string;
  workItemId: string;
  sequenceId: number;
  name: string;
  descriptionStripped?: string | null;
  descriptionHtml?: string | null;
  /** When the work item last changed (ISO), as Plane says. */
  updatedAt?: string | null;
  want: 'start' | 'stop';
}

/** What was done for one work item: `started`, `stop-signalled`, `ignored: …` or `error: …`. */
export interface PlaneReconcileAction {
  key: string;
  workItemId: string;
  want: 'start' | 'stop';
  outcome: string;
}

/** Acts on a work item whose task does not match its state; null when it matches (nothing to do). */
export interface PlaneTaskPort {
  reconcile(item: PlaneReconcileItem): Promise<PlaneReconcileAction | null>;
}

export interface PlaneReconcileReport {
  at: string;
  /** Why nothing was listed (Plane not configured), if so. */
  skipped?: string;
  projects: { projectId: string; identifier: string; listed: number; inStart: number; inStop: number; error?: string }[];
  /** Work items acted on (and refusals or errors while acting). */
  acted: PlaneReconcileAction[];
}

export interface PlaneReconcileActivities {
  reconcilePlane(): Promise<PlaneReconcileReport>;
}

export type PlaneReconcileWorkflow = () => Promise<PlaneReconcileReport>;
