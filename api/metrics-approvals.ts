// orch_approval_wait_seconds: how long approval stages waited for a person, from the stage's
// `approval-requested` event to its `approval-decided` (both recorded by the database's clock),
// by stage and decision. Fed by api/metrics.ts from the task events it reads.
import { Histogram, type Registry } from 'prom-client';
import type { EventRow } from './metrics-records.js';

const DECISIONS = new Set(['approved', 'rejected', 'timed-out']);

export function createApprovalMetrics(registry: Registry, stageLabel: (stage: string | null | undefined) => string) {
  const wait = new Histogram({
    name: 'orch_approval_wait_seconds',
    help: 'Approval stages: the wait from the request to the decision (approved, rejected, or timed-out), across worker restarts and continue-as-new',
    labelNames: ['stage', 'decision'] as const,
    // From a quick click to a week-long wait.
    buckets: [1, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600, 30 * 24 * 3600],
    registers: [registry],
  });
  return {
    /** Counts an `approval-decided` event against the `approval-requested` before it. */
    decided(e: EventRow): void {
      if (!e.approvalRequestedAt) return;
      const s = (e.createdAt.getTime() - e.approvalRequestedAt.getTime()) / 1000;
      if (!Number.isFinite(s) || s < 0) return;
      const decision = String(e.detail?.decision ?? '');
      wait.observe({ stage: stageLabel(e.stage), decision: DECISIONS.has(decision) ? decision : 'other' }, s);
    },
  };
}
