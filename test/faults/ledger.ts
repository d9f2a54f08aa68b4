// Global setup of the `faults` project (after test/support/global-setup.ts): a ledger file the
// scenarios append to, and at the end of the run
//   - F6: every remote any fault scenario used is read, and a single `REJECT` line in any
//     pre-receive hook log fails the run (orch tried a force-push or to delete `main`);
//   - under ORCH_FAULTS=full, docs/reliability.md is written from the ledger.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { TestProject } from 'vitest/node';
import { projectDir } from '../../worker/config/project-dir.js';
import { resolveTemporalCli } from '../../worker/temporal/cli.js';
import type { LedgerLine, ScenarioRecord } from './support.js';

export interface F6 {
  remotes: number;
  accepted: number;
  rejections: string[];
}
export type Report = (scenarios: ScenarioRecord[], f6: F6, startedAt: Date) => Promise<void>;

/** The reliability report's section the cluster suite writes (test/cluster/ledger.ts); the rest is this suite's. */
export const CLUSTER_SECTION = '<!-- cluster suite: npm run test:cluster -->';

/** A global setup that provides the ledger, checks F6 at the end and hands the figures to `report`. */
export const ledgerSetup = (report: Report) => async (project: TestProject) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'orch-faults-'));
  const ledger = path.join(dir, 'ledger.jsonl');
  await writeFile(ledger, '');
  project.provide('faultsLedger', ledger);
  const startedAt = new Date();

  return async () => {
    const lines = (await readFile(ledger, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LedgerLine);
    const remotes = lines.filter((l) => l.kind === 'remote');
    const scenarios = lines.filter((l): l is ScenarioRecord => l.kind === 'scenario');
    // F6, across the whole suite. The hook logs live in the run dir, which the integration global
    // setup removes in its own teardown — after this one (teardowns run in reverse order).
    const rejections: string[] = [];
    let accepted = 0;
    for (const r of remotes) {
      const log = existsSync(r.hookLog) ? readFileSync(r.hookLog, 'utf8').split('\n').filter(Boolean) : [];
      accepted += log.filter((l) => l.startsWith('ACCEPT')).length;
      for (const l of log) if (l.startsWith('REJECT')) rejections.push(`${r.scenario}: ${l}`);
    }
    const f6 = { remotes: remotes.length, accepted, rejections };
    for (const r of scenarios) {
      process.stderr.write(
        `faults ${r.id} ${r.passed ? 'pass' : 'FAIL'}: trials ${r.trials}, done/cancelled/failed ${r.outcomes.done}/${r.outcomes.cancelled}/${r.outcomes.failed}, ` +
          `stages once ${r.stagesOnce.ok}/${r.stagesOnce.of}, orphans ${r.orphans}, hook rejections ${r.hookRejections}, ${secs(r.runtimeMs)}\n${r.notes.map((n) => `  - ${n}\n`).join('')}`,
      );
    }
    process.stderr.write(`faults F6: ${remotes.length} remotes, ${accepted} updates accepted, ${rejections.length} rejected\n`);
    await report(scenarios, f6, startedAt);
    await rm(dir, { recursive: true, force: true });
    if (rejections.length) {
      throw new Error(`F6: the remotes' pre-receive hooks rejected ${rejections.length} update(s):\n${rejections.join('\n')}`);
    }
  };
};

export const RELIABILITY_FILE = path.join(projectDir, 'docs', 'reliability.md');

/** Under ORCH_FAULTS=full, docs/reliability.md from this run (the cluster suite's section kept). */
export default ledgerSetup(async (scenarios, f6, startedAt) => {
  if (process.env.ORCH_FAULTS !== 'full') return;
  const before = await readFile(RELIABILITY_FILE, 'utf8').catch(() => '');
  const kept = before.includes(CLUSTER_SECTION) ? `\n${before.slice(before.indexOf(CLUSTER_SECTION))}` : '';
  await writeFile(RELIABILITY_FILE, (await renderReport(scenarios, f6, startedAt)) + kept);
  process.stderr.write(`faults: wrote ${RELIABILITY_FILE}\n`);
});

export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export async function machine(): Promise<string[]> {
  const cpus = os.cpus();
  const cli = await resolveTemporalCli({ log: () => undefined, build: false }).catch(() => null);
  const cliVersion = cli ? (await execa(cli, ['--version'], { reject: false })).stdout.trim() : 'unknown';
  const git = (await execa('git', ['--version'], { reject: false })).stdout.trim();
  return [
    `- CPU: ${cpus.length} × ${cpus[0]?.model ?? 'unknown'}`,
    `- memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${os.type()} ${os.release()} (${os.arch()})`,
    `- Node ${process.version}; ${git}; ${cliVersion.split('\n')[0]}`,
  ];
}

/** One scenario's row of the results table. */
export const scenarioRow = (r: ScenarioRecord) =>
  `| ${r.id} | ${r.passed ? 'pass' : '**FAIL**'} | ${r.trials} | ${r.outcomes.done + r.outcomes.cancelled + r.outcomes.failed === 0 ? '—' : `${r.outcomes.done} / ${r.outcomes.cancelled} / ${r.outcomes.failed}${r.outcomes.other ? ` (+${r.outcomes.other} other)` : ''}`} | ${r.stagesOnce.of ? `${r.stagesOnce.ok} of ${r.stagesOnce.of}` : '—'} | ${r.orphans} | ${r.hookRejections} | ${secs(r.runtimeMs)} |`;

/** A scenario's section: what broke (if it failed) and its notes. */
export function scenarioSection(r: ScenarioRecord): string[] {
  const out = [`### ${r.id} — ${r.title}`, ''];
  if (!r.passed && r.problems?.length) out.push('**Failed** — what broke:', '', ...r.problems.map((p) => `- ${p.replace(/\s+/g, ' ')}`), '');
  else if (!r.passed) out.push('**Failed:**', '', '```', r.error ?? '(no message)', '```', '');
  for (const n of r.notes) out.push(`- ${n}`);
  out.push('');
  return out;
}

async function renderReport(scenarios: ScenarioRecord[], f6: F6, startedAt: Date): Promise<string> {
  const byId = [...scenarios].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
  const total = byId.reduce((s, r) => s + r.runtimeMs, 0);
  const row = scenarioRow;
  const out = [
    '# Reliability under faults',
    '',
    'Generated by `npm run test:faults` (the full fault suite, `ORCH_FAULTS=full`, files under',
    '`test/faults/`). Everything is real: a Temporal dev server, PostgreSQL, worker processes, git',
    'remotes with a `pre-receive` hook that refuses force-pushes and deletion of `main`, agent',
    'process groups. Loopback only. A shorter version of the same scenarios, with the same',
    'assertions and fewer trials, runs in every `npm test` (`npx vitest run --project faults`).',
    'A failing scenario below is a finding about orch, not a flaky test: its message says what broke.',
    '',
    `- run: ${startedAt.toISOString()} → ${new Date().toISOString()}`,
    ...(await machine()),
    '',
    '| scenario | result | trials | done / cancelled / failed | stages advanced exactly once | orphans found | hook rejections | runtime |',
    '|---|---|---|---|---|---|---|---|',
    ...byId.map(row),
    `| F6 (suite-wide) | ${f6.rejections.length ? '**FAIL**' : 'pass'} | ${f6.remotes} remotes | — | — | — | ${f6.rejections.length} (of ${f6.accepted + f6.rejections.length} ref updates) | — |`,
    '',
    `Scenario time in total: ${secs(total)}.`,
    '',
    '"Trials" counts faults injected into a task (F1, F7), tasks run through a restart (F2, F3), STOP',
    'cases (F4) and webhook deliveries (F5). "Orphans found" counts agent process groups left',
    'alive, worktrees and `orch/*` branches left behind, where the scenario checks them.',
    '',
    '## Scenarios',
    '',
  ];
  for (const r of byId) out.push(...scenarioSection(r));
  out.push('### F6 — the remotes reject nothing, suite-wide', '');
  out.push(`- ${f6.remotes} test remotes read; ${f6.accepted} ref updates accepted, ${f6.rejections.length} rejected.`);
  for (const r of f6.rejections) out.push(`- ${r}`);
  out.push('');
  return out.join('\n');
}
