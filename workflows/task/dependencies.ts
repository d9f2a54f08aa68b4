// Waiting for the tasks this one depends on. A dependency that ends wakes its dependents with the
// `dependencyEnded` signal; a slow re-check covers a wake-up that never comes (a dependency closed by
// reconcile after a terminate, say). A long wait continues as new, so its history stays bounded.
import { condition, continueAsNew, patched, sleep, workflowInfo } from '@temporalio/workflow';
import type { TaskStatus, TaskWorkflow } from '../contracts/index.js';
import { records } from './activities.js';
import type { PlannedTask } from './planned.js';

/** A dependency is satisfied once it is done, or was cancelled (it will not land anything). */
export const satisfies = (s: TaskStatus | undefined): boolean => s === 'done' || s === 'cancelled';

/** Only a backstop: a dependency's own ending (or reconcile) wakes the waiters at once. */
const RECHECK = '6h';
/** Well below the server's limits: a run this long hands its wait over to a fresh run. */
const MAX_HISTORY_WHILE_WAITING = 600;

export async function waitForDependencies(t: PlannedTask): Promise<void> {
  const { run } = t;
  const deps = run.input.dependsOn ?? [];
  if (deps.length === 0) return;
  // Before this change the wait polled every 10 s, ~11 history events a loop, and never continued as new.
  const signalled = patched('dependency-wake-signals');
  for (;;) {
    run.dependencyEnded = false;
    const statuses = await records.dependencyStatuses(deps);
    const waiting = deps.filter((d) => !satisfies(statuses[d]));
    if (waiting.length === 0) return;
    if (t.state.stage !== 'waiting') {
      t.state.stage = 'waiting';
      await t.update({ stage: 'waiting' });
    }
    const changed = waiting.join() !== run.waitingFor.join();
    run.waitingFor = waiting;
    if (changed || !signalled) run.refresh();
    if (!signalled) {
      await sleep('10s');
      continue;
    }
    await condition(() => run.dependencyEnded, RECHECK);
    const info = workflowInfo();
    if (!run.dependencyEnded && (info.continueAsNewSuggested || info.historyLength >= MAX_HISTORY_WHILE_WAITING)) {
      await run.notices;
      await continueAsNew<TaskWorkflow>({ ...run.input, resumed: true });
    }
  }
}
