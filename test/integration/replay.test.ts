// Every recorded history kept under test/fixtures/histories must replay with today's workflow code.
// Refresh them with (see docs/runbook.md):
//   ORCH_RECORD_HISTORIES=1 npx vitest run --project integration pipeline stop merge-lock
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { projectDir } from '../../worker/config/project-dir.js';
import { loadFixtures, replay } from '../support/histories.js';

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } as never;

describe('recorded histories', () => {
  it('replay without non-determinism', async () => {
    const fixtures = await loadFixtures();
    // One per workflow type at least: task, repoLock, reconcile.
    const types = new Set(fixtures.map((f) => (f.history as any).events[0].workflowExecutionStartedEventAttributes.workflowType.name));
    expect([...types].sort()).toEqual(['reconcile', 'repoLock', 'task']);
    expect(await replay(fixtures)).toEqual([]);
  });

  // Each patched() change, unguarded, breaks the histories recorded before it: the guard is what keeps them replaying.
  it.each([
    { patch: 'record-plan', file: 'task/workflow.ts', breaks: (f: string) => f.startsWith('task-') },
    // Only endings that wake dependents (done, cancelled) meet the second change.
    { patch: 'wake-dependents', file: 'task/finish.ts', breaks: (f: string) => f.startsWith('task-') && f !== 'task-gate-failed.json' },
    // Every task that reached an agent stage met the stage start (host, worktree and row update at once).
    { patch: 'stage-start-together', file: 'task/planned.ts', breaks: (f: string) => f.startsWith('task-') && f !== 'task-stopped-before-start.json' },
  ])('still replay across the patched($patch) change, which would break them unguarded', async ({ patch, file, breaks }) => {
    const fixtures = (await loadFixtures()).filter((f) => f.file.startsWith('task-'));
    const marked = (f: { history: unknown }) => JSON.stringify(f.history).includes(`"${patch}"`);
    // The fixtures predate the change: none of them carries the patch marker...
    expect(fixtures.filter(marked)).toEqual([]);
    // ...and they replay with the guarded code (the test above). Without the guard, they cannot:
    const dir = path.join(projectDir, 'test-artifacts', `unguarded-${patch}-${process.pid}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    try {
      await cp(path.join(projectDir, 'workflows'), dir, { recursive: true });
      const source = path.join(dir, file);
      const text = await readFile(source, 'utf8');
      expect(text).toContain(`patched('${patch}')`);
      await writeFile(source, text.replace(`patched('${patch}')`, 'true'));
      const bundle = await bundleWorkflowCode({ workflowsPath: path.join(dir, 'index.ts'), logger: quiet });
      const codePath = path.join(dir, 'bundle.js');
      await writeFile(codePath, bundle.code);
      const failures = await replay(fixtures, codePath);
      expect(failures.map((f) => f.split(':')[0]).sort()).toEqual(fixtures.filter((f) => breaks(f.file)).map((f) => f.workflowId).sort());
      for (const f of failures) expect(f).toMatch(/DeterminismViolationError/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
