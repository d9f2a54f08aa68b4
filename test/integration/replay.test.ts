// Every recorded history kept under test/fixtures/histories must replay with today's workflow code.
// Record them with the code before a change they must survive (see docs/architecture.md):
//   ORCH_RECORD_HISTORIES=1 npx vitest run --project integration pipeline stop merge-lock approvals
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { projectDir } from '../../worker/config/project-dir.js';
import { loadFixtures, replay } from '../support/histories.js';

/** The patch ids a history's markers record (their details are payloads: base64 JSON). */
function patchesOf(history: unknown): string[] {
  const events = (history as { events: { markerRecordedEventAttributes?: { markerName?: string; details?: Record<string, { payloads: { data: string }[] }> } }[] }).events;
  return events
    .map((e) => e.markerRecordedEventAttributes)
    .filter((m) => m?.markerName === 'core_patch')
    .map((m) => (JSON.parse(Buffer.from(m!.details!['patch-data']!.payloads[0]!.data, 'base64').toString('utf8')) as { id: string }).id);
}

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } as never;

describe('recorded histories', () => {
  it('replay without non-determinism', async () => {
    const fixtures = await loadFixtures();
    // One per workflow type at least: task, repoLock, reconcile.
    const types = new Set(fixtures.map((f) => (f.history as any).events[0].workflowExecutionStartedEventAttributes.workflowType.name));
    expect([...types].sort()).toEqual(['reconcile', 'repoLock', 'task']);
    expect(await replay(fixtures)).toEqual([]);
  });

  // Each patched() change, unguarded, breaks the histories recorded before it: the guard is what
  // keeps them replaying. A history recorded after a change carries its marker, and is left out.
  it.each([
    { patch: 'record-plan', file: 'task/workflow.ts', breaks: (f: string) => f.startsWith('task-') },
    // Only endings that wake dependents (done, cancelled) meet the second change.
    { patch: 'wake-dependents', file: 'task/finish.ts', breaks: (f: string) => f.startsWith('task-') && f !== 'task-gate-failed.json' },
    // Every task that reached an agent stage met the stage start (host, worktree and row update at once).
    { patch: 'stage-start-together', file: 'task/planned.ts', breaks: (f: string) => f.startsWith('task-') && f !== 'task-stopped-before-start.json' },
    // Only a stage after one that passed on its host (with stages started together) meets the agent's own check.
    { patch: 'agent-checks-worktree', file: 'task/planned.ts', breaks: (f: string) => f === 'task-approved.json' },
    // Only a decision, and a stage whose agent starts at once, meet the agent first and the records as one write.
    { patch: 'agent-first', file: 'task/planned.ts', breaks: (f: string) => f === 'task-approved.json' || f === 'task-approved-clone-checked.json' },
  ])('still replay across the patched($patch) change, which would break them unguarded', async ({ patch, file, breaks }) => {
    const all = (await loadFixtures()).filter((f) => f.file.startsWith('task-'));
    const fixtures = all.filter((f) => !patchesOf(f.history).includes(patch));
    // Some recorded history predates the change...
    expect(fixtures.filter((f) => breaks(f.file)).length).toBeGreaterThan(0);
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
