// The in-process worker for the bench's baseline workflows, with the SDK's DEFAULT options (no
// heartbeat-throttle tuning): the naive design of B1 depends on exactly that.
import { randomBytes } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import { createBenchActivities } from './activities.js';
import { defer, type Stack } from './stack.js';

export async function startBenchWorker(stack: Stack, name: string): Promise<{ taskQueue: string; worker: Worker }> {
  const taskQueue = `bench-${name}-${randomBytes(3).toString('hex')}`;
  const worker = await Worker.create({
    connection: stack.nativeConnection,
    namespace: stack.namespace,
    taskQueue,
    workflowBundle: { codePath: stack.benchBundlePath },
    activities: createBenchActivities(),
  });
  const done = worker.run();
  defer(`stop bench worker ${taskQueue}`, async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await done.catch(() => undefined);
  });
  return { taskQueue, worker };
}
