// One B8 batch: n tasks of a three-stage no-op pipeline started through orch's API at once, run
// by the orch hosts that are up, and read back from orch's task rows (PostgreSQL's clock for both
// ends, so end-to-end times need no clock of the bench).
import pLimit from 'p-limit';
import { TERMINAL_STATUSES } from '../workflows/contracts/index.js';
import type { OrchEnv } from './orch-env.js';
import { say } from './stack.js';
import { summarize, type Summary } from './stats.js';

export interface BatchResult {
  n: number;
  done: number;
  /** Tasks that ended other than done, and those still unfinished at the deadline. */
  failed: { key: string; status: string; reason: string | null }[];
  /** First task row created → last task finished. */
  wallMs: number;
  /** Time to get all n through POST /api/tasks. */
  submitMs: number;
  tasksPerMin: number;
  /** Task row created → finished, of the done tasks. */
  e2e: Summary;
}

/** Starts `n` tasks `<prefix>-1…n` and waits until every one is terminal or `timeoutMs` passed. */
export async function runBatch(env: OrchEnv, prefix: string, n: number, timeoutMs: number): Promise<BatchResult> {
  const keys = Array.from({ length: n }, (_, i) => `${prefix}-${i + 1}`);
  // Sixteen requests in flight: the API is a client, not the thing measured.
  const limit = pLimit(16);
  const t0 = performance.now();
  await Promise.all(
    keys.map((key) =>
      limit(async () => {
        const res = await env.api('POST', '/api/tasks', { key, repo: 'demo', title: `b8 ${key}` });
        if (res.status !== 202) throw new Error(`B8: starting ${key} answered ${res.status}: ${JSON.stringify(res.body)}`);
      }),
    ),
  );
  const submitMs = performance.now() - t0;
  const pattern = `${prefix}-%`;
  const terminal = [...TERMINAL_STATUSES];
  const deadline = Date.now() + timeoutMs;
  let lastSaid = 0;
  for (;;) {
    const [row] = await env.database.sql<{ n: number }[]>`select count(*)::int as n from tasks where key like ${pattern} and status::text = any(${terminal})`;
    if (row!.n >= n) break;
    if (Date.now() > deadline) {
      say(`B8 ${prefix}: ${n - row!.n} of ${n} tasks unfinished after ${timeoutMs / 60_000} min; counting them as failed`);
      break;
    }
    if (Date.now() - lastSaid > 30_000) {
      lastSaid = Date.now();
      say(`B8 ${prefix}: ${row!.n} of ${n} tasks finished after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const rows = await env.database.sql<{ key: string; status: string; reason: string | null; created: number; finished: number | null }[]>`
    select key, status::text, failure_reason as reason,
      extract(epoch from created_at) * 1000 as created, extract(epoch from finished_at) * 1000 as finished
    from tasks where key like ${pattern}`;
  const done = rows.filter((r) => r.status === 'done' && r.finished !== null);
  const byKey = new Map(rows.map((r) => [r.key, r]));
  const failed = keys
    .map((k) => byKey.get(k))
    .map((r, i) => (r ? r : { key: keys[i]!, status: 'missing', reason: 'no task row' }))
    .filter((r) => r.status !== 'done')
    .map((r) => ({ key: r.key, status: r.status, reason: r.reason }));
  const firstCreated = Math.min(...rows.map((r) => Number(r.created)));
  const lastFinished = Math.max(...done.map((r) => Number(r.finished)));
  const wallMs = done.length ? lastFinished - firstCreated : Number.NaN;
  return {
    n,
    done: done.length,
    failed,
    wallMs,
    submitMs,
    tasksPerMin: done.length ? (done.length * 60_000) / wallMs : 0,
    e2e: summarize(done.map((r) => Number(r.finished) - Number(r.created))),
  };
}
