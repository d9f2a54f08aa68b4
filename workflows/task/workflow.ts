// The `task` workflow: one work item from analysis to deploy. It reads as the stage diagram:
// record, plan, wait for dependencies, stages (stage-flow.ts: agents, approvals, merge, deploy, and
// the loops back), finish. STOP (stop.ts) cancels the
// pipeline's scope from outside; compensation (compensation.ts) runs in the cancelled ending.
import { CancellationScope, ContinueAsNew, patched } from '@temporalio/workflow';
import type { TaskInput, TaskResult } from '../contracts/index.js';
import { records } from './activities.js';
import { withLock } from './critical.js';
import { waitForDependencies } from './dependencies.js';
import { showIdentity } from './details.js';
import { finishCancelled, finishDone, finishFailed } from './finish.js';
import { PlannedTask } from './planned.js';
import { TaskRun } from './run.js';
import { StageFlow } from './stage-flow.js';
import { handleMessages } from './stop.js';

export async function task(input: TaskInput): Promise<TaskResult> {
  const run = new TaskRun(input);
  handleMessages(run);
  showIdentity(input);
  run.refresh();

  const t = await recordAndPlan(run);
  try {
    await run.pipeline.run(async () => {
      if (!input.resumeAt) await waitForDependencies(t);
      const flow = new StageFlow(t, input.resumeAt);
      const stages = () => flow.run(t.plan.stages);
      if (t.plan.repo.serial) await withLock(t, 'serial', stages);
      else await stages();
    });
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    if (run.state.pendingStop) return await finishCancelled(t, run.state.pendingStop, err);
    return await finishFailed(t, err);
  }
  if (run.state.pendingStop) return await finishCancelled(t, run.state.pendingStop, undefined);
  return await finishDone(t);
}

async function recordAndPlan(run: TaskRun): Promise<PlannedTask> {
  const { input, info } = run;
  const { taskId } = await CancellationScope.nonCancellable(() => records.recordTask({ ...input, workflowId: info.workflowId, runId: info.runId }));
  run.taskId = taskId;
  // A run continued as new mid-pipeline goes on with the plan it started with.
  const plan = input.resumeAt?.plan ?? (await CancellationScope.nonCancellable(() => records.planPipeline(input.repo)));
  run.plan = plan;
  const t = new PlannedTask(run, taskId, plan);
  if (input.resumeAt) run.restore(input.resumeAt);
  if (input.resumed) return t; // continued as new mid-wait: already announced
  // Added after tasks were already running: histories from before it carry no such event.
  if (patched('record-plan')) await t.event('planned', null, { stages: plan.stages.map((s) => s.name), serial: plan.repo.serial });
  await t.event('started', null, { runId: info.runId });
  run.notify({ kind: 'started', key: input.key, repo: input.repo });
  return t;
}
