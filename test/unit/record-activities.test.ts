// wakeDependents over stubbed records and a stubbed Temporal client: who is signalled, who is skipped.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import type { Records } from '../../db/records.js';
import { createRecordActivities } from '../../activities/records.js';
import { dependencyEndedSignal, type PipelineConfig } from '../../workflows/contracts/index.js';

function setup(waiters: { key: string; workflowId: string }[], closed: Set<string>, broken = new Set<string>()) {
  const asked: string[] = [];
  const signalled: { workflowId: string; name: string; args: unknown[] }[] = [];
  const records = {
    async activeDependentsOf(key: string) {
      asked.push(key);
      return waiters;
    },
  } as unknown as Records;
  const client = {
    workflow: {
      getHandle: (workflowId: string, runId?: string) => ({
        async signal(def: { name: string }, ...args: unknown[]) {
          expect(runId).toBeUndefined();
          if (closed.has(workflowId)) throw new WorkflowNotFoundError('workflow execution already completed', workflowId, undefined);
          if (broken.has(workflowId)) throw new Error('connection refused');
          signalled.push({ workflowId, name: def.name, args });
        },
      }),
    },
  } as unknown as Client;
  const activities = createRecordActivities({ pipeline: {} as PipelineConfig, records, client });
  return { activities, asked, signalled };
}

describe('wakeDependents', () => {
  it('signals every active waiter of the key and skips the closed ones', async () => {
    const { activities, asked, signalled } = setup(
      [
        { key: 'B-1', workflowId: 'task-B-1' },
        { key: 'C-1', workflowId: 'task-C-1' },
        { key: 'D-1', workflowId: 'task-D-1' },
      ],
      new Set(['task-C-1']),
    );
    expect(await activities.wakeDependents('A-1')).toBe(2);
    expect(asked).toEqual(['A-1']);
    expect(signalled).toEqual([
      { workflowId: 'task-B-1', name: dependencyEndedSignal.name, args: [{ key: 'A-1' }] },
      { workflowId: 'task-D-1', name: dependencyEndedSignal.name, args: [{ key: 'A-1' }] },
    ]);
  });

  it('answers 0 when nobody waits', async () => {
    expect(await setup([], new Set()).activities.wakeDependents('A-1')).toBe(0);
  });

  it('fails (to be retried) on any other error', async () => {
    const { activities } = setup([{ key: 'B-1', workflowId: 'task-B-1' }], new Set(), new Set(['task-B-1']));
    await expect(activities.wakeDependents('A-1')).rejects.toThrow('connection refused');
  });
});
