// Every recorded history kept under test/fixtures/histories must replay with today's workflow code.
// Refresh them with (see docs/runbook.md):
//   ORCH_RECORD_HISTORIES=1 npx vitest run --project integration pipeline stop merge-lock
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { projectDir } from '../../worker/config.js';
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

  it('still replay across the patched() change, which would break them unguarded', async () => {
    const fixtures = (await loadFixtures()).filter((f) => f.file.startsWith('task-'));
    const started = (f: { history: unknown }) => JSON.stringify(f.history).includes('"record-plan"');
    // The fixtures predate the change: none of them carries the patch marker...
    expect(fixtures.filter(started)).toEqual([]);
    // ...and they replay with the guarded code (the test above). Without the guard, they cannot:
    const dir = path.join(projectDir, 'test-artifacts', `unguarded-workflows-${process.pid}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    try {
      await cp(path.join(projectDir, 'workflows'), dir, { recursive: true });
      const task = path.join(dir, 'task.ts');
      const source = await readFile(task, 'utf8');
      expect(source).toContain("if (patched('record-plan'))");
      await writeFile(task, source.replace("if (patched('record-plan'))", 'if (true)'));
      const bundle = await bundleWorkflowCode({ workflowsPath: path.join(dir, 'index.ts'), logger: quiet });
      const codePath = path.join(dir, 'bundle.js');
      await writeFile(codePath, bundle.code);
      const failures = await replay(fixtures, codePath);
      expect(failures).toHaveLength(fixtures.length);
      for (const f of failures) expect(f).toMatch(/DeterminismViolationError/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
