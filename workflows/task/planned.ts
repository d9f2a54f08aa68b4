// A task once recorded and planned: its row id and pipeline are known from here on, so the stage
// code reads them without guards.
import { ActivityFailure, CancellationScope, patched, TimeoutFailure, type ActivityOptions } from '@temporalio/workflow';
import type { HostRef, PipelinePlan, StageEntryEvent, TaskEventType, TaskPatch } from '../contracts/index.js';
import { onHost, records } from './activities.js';
import type { TaskRun } from './run.js';

export class PlannedTask {
  /** A record still being written that the next stage need not wait for (it waits at its start). */
  #inFlight: Promise<unknown> | null = null;
  /** An event the next stage's entry records with its row, in one write (the patch `agent-first`). */
  #withNextEntry: StageEntryEvent | null = null;

  constructor(
    readonly run: TaskRun,
    readonly taskId: string,
    readonly plan: PipelinePlan,
  ) {}

  get key() {
    return this.run.key;
  }
  get state() {
    return this.run.state;
  }

  /** A task event, recorded even while a STOP is cancelling the pipeline. */
  event(type: TaskEventType, stage: string | null, detail: Record<string, unknown> = {}) {
    return CancellationScope.nonCancellable(() => records.recordEvent({ taskId: this.taskId, type, stage, detail }));
  }

  /**
   * An event the next stage's start need not wait for: recorded with that stage's row update, in one
   * write (`agent-first`), or alongside it (`stage-start-together`); `settle` records it otherwise.
   */
  async withNextStage(type: TaskEventType, stage: string, detail: Record<string, unknown>): Promise<void> {
    if (this.agentFirst()) {
      this.#withNextEntry = { type, stage, detail };
      return;
    }
    // In this order (the record, then the check) as before the patch: the histories replay.
    const record = this.event(type, stage, detail);
    if (this.startsTogether()) this.#inFlight = record;
    else await record;
  }

  /** Records what `withNextStage` left, and waits for it. */
  async settle(): Promise<void> {
    const left = this.#withNextEntry;
    this.#withNextEntry = null;
    const record = this.#inFlight;
    this.#inFlight = null;
    await Promise.all([record, left && this.event(left.type, left.stage ?? null, left.detail)]);
  }

  update(patch: TaskPatch, events: StageEntryEvent[] = []) {
    return CancellationScope.nonCancellable(() => (events.length ? records.updateTask(this.taskId, patch, events) : records.updateTask(this.taskId, patch)));
  }

  async enterStage(stage: string) {
    this.showEntry(stage);
    await this.recordEntry(stage);
  }

  /** A stage's start as the Web UI, the state query and the notices see it. */
  showEntry(stage: string): void {
    this.state.stage = stage;
    this.run.refresh();
    this.run.notify({ kind: 'stage', key: this.key, stage });
  }

  /** A stage's start in its row, with the event left for it; settles what is still in flight. */
  async recordEntry(stage: string): Promise<void> {
    const events = this.#withNextEntry ? [this.#withNextEntry] : [];
    this.#withNextEntry = null;
    // Also after `temporal workflow reset` of a failed task: the row follows the run that is live now.
    await Promise.all([this.update({ stage, status: 'running', runId: this.run.info.runId, failureReason: null }, events), this.settle()]);
  }

  /**
   * The patch `stage-start-together`: a stage starts with its row update, the record of the approval
   * before it, its host pick and its first worktree in flight together (they were one after another).
   */
  startsTogether(): boolean {
    return patched('stage-start-together');
  }

  /**
   * The patch `agent-checks-worktree`: a stage after one that passed on the same host starts its
   * agent at once, the run itself checking that the clone is still clean at the push (it was a
   * prepareWorktree activity, then a workflow task, before the agent).
   */
  agentChecksWorktree(): boolean {
    return patched('agent-checks-worktree');
  }

  /**
   * The patch `agent-first`: a stage whose agent starts at once schedules the agent's run before its
   * records, and those records are one activity (the row and the event left for it), so the run is
   * dispatched first and fewer record activities and workflow tasks share the host while it starts.
   */
  agentFirst(): boolean {
    return patched('agent-first');
  }

  onHost(host: HostRef, opts: Pick<ActivityOptions, 'activityId' | 'summary'> = {}) {
    return onHost(this.plan, host, opts);
  }

  async ensureHost(): Promise<HostRef> {
    const { run } = this;
    if (!run.host) {
      run.host = await records.pickHost();
      run.usedHosts.set(run.host.hostId, run.host);
      this.state.host = run.host.hostId;
      run.refresh();
    }
    return run.host;
  }

  loseHost(): void {
    this.run.host = null;
    this.state.host = null;
  }
}

/** A host-bound activity that timed out waiting for, or hearing from, its host: the host is gone. */
export const isHostLost = (err: unknown): boolean =>
  err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType !== 'START_TO_CLOSE';

export const reasonOf = (err: unknown): string =>
  err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
