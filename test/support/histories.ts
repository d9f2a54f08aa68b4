// Workflow histories for replay: exported with the real `temporal workflow show --output json` (the
// runbook's own command), replayed against the current workflow code, and optionally kept as
// fixtures (`ORCH_RECORD_HISTORIES=1`, see docs/runbook.md) so later code must still replay them.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { execa } from 'execa';
import { inject } from 'vitest';
import { projectDir } from '../../worker/config/project-dir.js';
import { quietRuntime } from './runtime.js';

export const fixturesDir = path.join(projectDir, 'test', 'fixtures', 'histories');

export async function exportHistory(workflowId: string, runId?: string): Promise<unknown> {
  const args = ['workflow', 'show', '--workflow-id', workflowId, '--output', 'json'];
  if (runId) args.push('--run-id', runId);
  args.push('--address', inject('temporalAddress'), '--namespace', inject('temporalNamespace'));
  const { stdout } = await execa(inject('temporalCliPath'), args);
  return JSON.parse(stdout);
}

/** Replays histories with the current bundle; returns one error message per failed history. */
export async function replay(histories: { workflowId: string; history: unknown }[], codePath = inject('workflowBundlePath')): Promise<string[]> {
  quietRuntime();
  const failures: string[] = [];
  for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath } }, histories)) {
    if (r.error) failures.push(`${r.workflowId}: ${r.error.name}: ${r.error.message}`);
  }
  return failures;
}

/** Exports each workflow's history, replays them all, and keeps them as fixtures when asked. */
export async function exportAndReplay(workflows: { workflowId: string; fixture: string }[]): Promise<string[]> {
  const histories = await Promise.all(workflows.map(async (w) => ({ workflowId: w.workflowId, history: await exportHistory(w.workflowId) })));
  if (process.env.ORCH_RECORD_HISTORIES) {
    for (const [i, w] of workflows.entries()) {
      await writeFile(path.join(fixturesDir, `${w.fixture}.json`), `${JSON.stringify(histories[i]!.history, null, 1)}\n`);
    }
  }
  return replay(histories);
}

export async function loadFixtures(): Promise<{ workflowId: string; history: unknown; file: string }[]> {
  const files = (await readdir(fixturesDir)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => ({ file, workflowId: file.replace(/\.json$/, ''), history: JSON.parse(await readFile(path.join(fixturesDir, file), 'utf8')) })),
  );
}
