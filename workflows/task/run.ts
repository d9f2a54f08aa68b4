// What one task workflow run knows: its query-able state and the few facts its handlers share.
// Built at the start (a STOP may arrive before the task is recorded); `planned` is set once it is.
import { CancellationScope, workflowInfo } from '@temporalio/workflow';
import type { ApprovalRecord, CompensationResult, HostRef, ResumePoint, PipelinePlan, ProgressUpdate, TaskInput, TaskState } from '../contracts/index.js';
import { plane } from './activities.js';
import { showProgress } from './details.js';

export class TaskRun {
  readonly info = workflowInfo();
  readonly key: string;
  readonly repo: string;
  readonly state: TaskState;
  /** The pipeline's scope: a STOP cancels it (outside critical windows). */
  readonly pipeline = new CancellationScope();
  /** The task's row, once recorded (a STOP records its request there at once). */
  taskId: string | undefined;
  /** Set once the pipeline is planned. */
  plan: PipelinePlan | undefined;
  /** The host the current stage runs on (null: none yet, or it was lost). */
  host: HostRef | null = null;
  /** Every host this task used: a host that is still alive may still hold a worktree of it. */
  readonly usedHosts = new Map<string, HostRef>();
  agentRunning = false;
  cancelledByTemporal = false;
  /** The agent kill sent at STOP, before the cancellation rides a heartbeat to the agent. */
  fastKill: Promise<CompensationResult | undefined> | undefined;
  /** Where this workflow last pushed `orch/<KEY>` (null: not yet). */
  pushedSha: string | null = null;
  /** Nothing ran in the host's clone since that push (an agent, a gate): it should still be clean there. */
  leftAtPush = false;
  mergedSha: string | null = null;
  /** The dependencies still being waited for. */
  waitingFor: string[] = [];
  /** Set by the `dependencyEnded` signal; the dependency wait re-reads the records. */
  dependencyEnded = false;
  /** The approval stage waiting for a person, and its decision once the update gave it. */
  approval: { stage: string; decision: ApprovalRecord | null } | null = null;
  /** A grant can arrive before requestLock's result does: every grant is remembered. */
  readonly grantedLocks = new Set<string>();
  // Progress comments go out in order, one after another, off the pipeline's critical path.
  notices: Promise<unknown> = Promise.resolve();

  constructor(readonly input: TaskInput) {
    this.key = input.key;
    this.repo = input.repo;
    this.state = {
      key: input.key,
      repo: input.repo,
      stage: null,
      status: 'running',
      host: null,
      history: [],
      pendingStop: null,
      inCriticalWindow: false,
      failureReason: null,
      compensation: [],
    };
  }

  /** Takes over what a run that continued as new mid-pipeline carried. */
  restore(r: ResumePoint): void {
    this.state.history = r.history;
    if (r.usage) this.state.usage = r.usage;
    this.state.approvals = r.approvals;
    this.pushedSha = r.pushedSha;
    this.mergedSha = r.mergedSha;
    for (const h of r.hosts) this.usedHosts.set(h.hostId, h);
  }

  /** The Web UI's view of the task: search attributes and current details. */
  refresh(): void {
    showProgress(this.input, this.state, this.waitingFor);
  }

  notify(update: ProgressUpdate): void {
    const { planeIssueId, planeProjectId } = this.input;
    if (!planeIssueId || !planeProjectId) return;
    const req = { planeProjectId, planeIssueId, update };
    this.notices = this.notices.then(() => CancellationScope.nonCancellable(() => plane.notifyPlane(req))).catch(() => undefined);
  }
}
