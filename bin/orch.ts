// `orch`: the operator CLI. It only talks HTTP to the orch API (ORCH_API_URL, ORCH_API_TOKEN).
// Exit codes: 0 ok · 1 the API said no (or the task failed) · 2 the watched task was cancelled ·
// 3 the API cannot be reached.
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';

const API_URL = (process.env.ORCH_API_URL || `http://127.0.0.1:${process.env.PORT || 3000}`).replace(/\/+$/, '');
const TOKEN = process.env.ORCH_API_TOKEN || undefined;

/** An expected failure: one line on stderr, no stack. */
class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly status?: number,
  ) {
    super(message);
  }
}

// ---- HTTP ---------------------------------------------------------------------------------------

function networkCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } })?.cause;
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message;
}

async function call(method: string, route: string, body?: unknown, init: { signal?: AbortSignal; accept?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: init.accept ?? 'application/json' };
  if (TOKEN) headers.authorization = `Bearer ${TOKEN}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  try {
    return await fetch(`${API_URL}${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: init.signal });
  } catch (err) {
    if ((err as Error)?.name === 'TimeoutError') throw new CliError(`the orch API at ${API_URL} did not answer ${method} ${route} in time`, 3);
    const code = networkCode(err);
    throw new CliError(`cannot reach the orch API at ${API_URL}; is \`npm start\` running?${code ? ` (${code})` : ''}`, 3);
  }
}

async function errorOf(res: Response): Promise<CliError> {
  const text = await res.text().catch(() => '');
  let message = text.trim() || res.statusText;
  try {
    const j = JSON.parse(text) as { error?: unknown };
    if (typeof j.error === 'string') message = j.error;
  } catch {
    /* not JSON: keep the text */
  }
  return new CliError(`${message} (HTTP ${res.status})`, 1, res.status);
}

async function api<T = any>(method: string, route: string, body?: unknown): Promise<T> {
  const res = await call(method, route, body, { signal: AbortSignal.timeout(60_000) });
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as T;
}

const taskRoute = (key: string) => `/api/tasks/${encodeURIComponent(key)}`;

// ---- formatting ---------------------------------------------------------------------------------

const TERMINAL = new Set(['done', 'failed', 'cancelled']);
const pad2 = (n: number) => String(n).padStart(2, '0');
function clock(at: string | number | Date | null | undefined): string {
  const d = at ? new Date(at) : new Date();
  if (Number.isNaN(d.getTime())) return '--:--:--';
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
function ago(at: string | null | undefined, now = Date.now()): string {
  if (!at) return '—';
  return `${duration(now - new Date(at).getTime())} ago`;
}
function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad2(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${pad2(Math.floor((s % 3600) / 60))}m`;
}
function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '—' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}
const out = (line = '') => process.stdout.write(`${line}\n`);

interface Attempt {
  stage: string;
  attempt: number;
  host?: string | null;
  pid?: number | null;
  startedAt?: string | null;
  endedAt?: string | null;
  outcome?: string | null;
  detail?: string | null;
}

/** Attempts from the workflow's history when it is live, else from the job rows and events. */
function attemptsOf(t: TaskResponse): Attempt[] {
  const jobs = t.jobs ?? [];
  const pidOf = (stage: string, attempt: number) => jobs.find((j) => j.stage === stage && j.attempt === attempt)?.pid ?? null;
  if (t.state?.history?.length) return t.state.history.map((h) => ({ ...h, pid: pidOf(h.stage, h.attempt) }));
  const events = t.events ?? [];
  return jobs.map((j) => {
    const passed = events.find((e) => e.type === 'stage-passed' && e.stage === j.stage && e.detail?.attempt === j.attempt);
    const failed = events.find((e) => e.type === 'stage-attempt-failed' && e.stage === j.stage && e.detail?.attempt === j.attempt);
    const outcome = passed ? 'passed' : failed ? 'failed' : j.status === 'running' ? null : j.status;
    return {
      stage: j.stage,
      attempt: j.attempt,
      host: j.host,
      pid: j.pid,
      startedAt: j.startedAt,
      endedAt: j.endedAt,
      outcome,
      detail: (failed?.detail?.reason as string | undefined) ?? j.detail ?? null,
    };
  });
}

interface StopInfo {
  reason?: string;
  requestedBy?: string;
  requestedAt: string;
}

interface TaskResponse {
  task: {
    key: string;
    repo: string;
    title: string;
    stage: string | null;
    status: string;
    workflowId: string;
    runId: string | null;
    failureReason: string | null;
    cancelRequestedAt: string | null;
    cancelledAt: string | null;
    createdAt: string;
    updatedAt: string;
    finishedAt: string | null;
  };
  state: {
    stage: string | null;
    status: string;
    host: string | null;
    history: Attempt[];
    pendingStop: StopInfo | null;
    inCriticalWindow: boolean;
    failureReason: string | null;
    compensation: { step: string; ok: boolean; detail: string }[];
  } | null;
  jobs: { stage: string; attempt: number; status: string; host: string | null; pid: number | null; exitCode: number | null; startedAt: string | null; endedAt: string | null; detail: string | null; createdAt: string }[];
  events: { id: number; type: string; stage: string | null; detail: Record<string, any> | null; createdAt: string }[];
}

function compensationOf(t: TaskResponse) {
  if (t.state?.compensation?.length) return t.state.compensation;
  return (t.events ?? []).filter((e) => e.type === 'compensation').map((e) => e.detail as { step: string; ok: boolean; detail: string });
}

// ---- commands -----------------------------------------------------------------------------------

async function cmdStart(o: { repo: string; title: string; key?: string; description?: string; dependsOn?: string }) {
  const body: Record<string, unknown> = { repo: o.repo, title: o.title };
  if (o.key) body.key = o.key;
  if (o.description !== undefined) body.description = o.description;
  if (o.dependsOn) body.dependsOn = o.dependsOn.split(',').map((s) => s.trim()).filter(Boolean);
  const r = await api<{ key: string; workflowId: string; runId: string; existing: boolean }>('POST', '/api/tasks', body);
  out(r.existing ? `${r.key} already running (workflow ${r.workflowId}, run ${r.runId})` : `started ${r.key} (workflow ${r.workflowId}, run ${r.runId})`);
  out(`follow it with: orch watch ${r.key}`);
}

async function cmdStatus(key: string, o: { json?: boolean }) {
  const t = await api<TaskResponse>('GET', taskRoute(key));
  if (o.json) return void out(JSON.stringify(t, null, 2));
  const { task, state } = t;
  const stage = state?.stage ?? task.stage;
  out(`${key}  ${task.status}${stage ? `  stage ${stage}` : ''}${state?.host ? `  host ${state.host}` : ''}`);
  out(`  ${task.repo}: ${task.title}`);
  out(`  workflow ${task.workflowId}${task.runId ? ` (run ${task.runId})` : ''}; started ${clock(task.createdAt)}, updated ${ago(task.updatedAt)}`);
  if (task.key !== key) out(`  record: ${task.key} (tombstoned after the STOP)`);
  const attempts = attemptsOf(t);
  if (attempts.length) {
    out('  attempts:');
    out(
      table(
        ['    STAGE', '#', 'HOST', 'PID', 'STARTED', 'TOOK', 'OUTCOME'],
        attempts.map((a) => [
          `    ${a.stage}`,
          a.attempt,
          a.host,
          a.pid,
          clock(a.startedAt),
          a.startedAt && a.endedAt ? duration(new Date(a.endedAt).getTime() - new Date(a.startedAt).getTime()) : a.startedAt ? `${duration(Date.now() - new Date(a.startedAt).getTime())}…` : null,
          a.outcome ? `${a.outcome}${a.detail && a.outcome !== 'passed' ? `: ${a.detail}` : ''}` : 'running',
        ]),
      ),
    );
  }
  const stop = state?.pendingStop;
  if (stop && !TERMINAL.has(task.status)) {
    out(`  STOP pending since ${clock(stop.requestedAt)}${stop.requestedBy ? ` (by ${stop.requestedBy})` : ''}: ${stop.reason ?? 'no reason given'}`);
    if (state?.inCriticalWindow) out('    deferred: the task is in a critical window (merge/deploy); it stops once that step ends');
  } else if (task.cancelRequestedAt && !TERMINAL.has(task.status)) {
    out(`  STOP pending since ${clock(task.cancelRequestedAt)}`);
  }
  const failure = task.failureReason ?? state?.failureReason;
  if (failure) out(`  failure: ${failure}`);
  if (task.status === 'cancelled') out(`  cancelled at ${clock(task.cancelledAt)}`);
  const comp = compensationOf(t);
  if (comp.length) {
    out('  compensation:');
    for (const c of comp) out(`    ${c.ok ? 'ok    ' : 'FAILED'} ${c.step}: ${c.detail}`);
  }
}

interface Fact {
  id: string;
  at: number;
  /** Tie-break among facts with the same time: stage entries first, then starts, then ends. */
  rank: number;
  text: string;
}

/** Everything worth a line that the response shows; ids make each fact print once. */
function factsOf(key: string, t: TaskResponse, now: number): Fact[] {
  const byId = new Map<string, Fact>();
  /** History and job rows describe the same attempt: the first wins unless `better` (e.g. it knows the pid). */
  const facts = {
    push(f: Fact, better = false) {
      if (!byId.has(f.id) || better) byId.set(f.id, f);
    },
  };
  const ms = (at: string | null | undefined) => (at ? new Date(at).getTime() : now);
  const stageAt = new Map<string, number>();
  const sawStage = (stage: string | null | undefined, at: number) => {
    if (!stage) return;
    stageAt.set(stage, Math.min(stageAt.get(stage) ?? Infinity, at));
  };
  const jobs = t.jobs ?? [];
  for (const h of t.state?.history ?? []) {
    sawStage(h.stage, ms(h.startedAt));
    facts.push({ id: `start:${h.stage}:${h.attempt}:${h.host ?? ''}`, at: ms(h.startedAt), rank: 1, text: `  ${h.stage} attempt ${h.attempt} started${h.host ? ` on ${h.host}` : ''}` });
    if (h.outcome === 'cancelled' || h.outcome === 'host-lost') {
      facts.push({ id: `end:${h.stage}:${h.attempt}:${h.host ?? ''}`, at: ms(h.endedAt), rank: 2, text: `  ${h.stage} attempt ${h.attempt} ${h.outcome}${h.detail ? `: ${h.detail}` : ''}` });
    }
  }
  for (const j of jobs) {
    sawStage(j.stage, ms(j.startedAt ?? j.createdAt));
    const id = `start:${j.stage}:${j.attempt}:${j.host ?? ''}`;
    const at = byId.get(id)?.at ?? ms(j.startedAt ?? j.createdAt);
    facts.push({ id, at, rank: 1, text: `  ${j.stage} attempt ${j.attempt} started${j.host ? ` on ${j.host}` : ''}${j.pid ? ` (pid ${j.pid})` : ''}` }, true);
    if (j.status === 'cancelled') facts.push({ id: `end:${j.stage}:${j.attempt}:${j.host ?? ''}`, at: ms(j.endedAt), rank: 2, text: `  ${j.stage} attempt ${j.attempt} cancelled` });
  }
  for (const e of t.events ?? []) {
    const at = ms(e.createdAt);
    const d = e.detail ?? {};
    const id = `event:${e.id}`;
    switch (e.type) {
      case 'stage-passed':
        sawStage(e.stage, at);
        facts.push({ id, at, rank: 2, text: `  ${e.stage} attempt ${d.attempt} passed${d.sha ? ` (${String(d.sha).slice(0, 10)})` : ''}` });
        break;
      case 'stage-attempt-failed':
        sawStage(e.stage, at);
        facts.push({ id, at, rank: 2, text: `  ${e.stage} attempt ${d.attempt} failed: ${d.reason ?? 'unknown reason'}` });
        break;
      case 'host-lost':
        facts.push({ id, at, rank: 2, text: `  host ${d.host} lost during ${e.stage} attempt ${d.attempt}; moving to another host` });
        break;
      case 'lock-acquired':
        facts.push({ id, at, rank: 1, text: `  lock ${d.lockId} acquired` });
        break;
      case 'merge-started':
        sawStage('merge', at);
        facts.push({ id, at, rank: 1, text: `  merging${d.pr ? ` PR #${d.pr}` : ''}` });
        break;
      case 'merge-finished':
        sawStage('merge', at);
        facts.push({ id, at, rank: 2, text: `  merged${d.sha ? ` ${String(d.sha).slice(0, 10)}` : ''}${d.alreadyMerged ? ' (was already merged)' : ''}` });
        break;
      case 'deploy-started':
        sawStage('deploy', at);
        facts.push({ id, at, rank: 1, text: `  deploying${d.sha ? ` ${String(d.sha).slice(0, 10)}` : ''}` });
        break;
      case 'deploy-finished':
        sawStage('deploy', at);
        facts.push({ id, at, rank: 2, text: d.ran === false ? '  no deploy configured' : `  deployed (exit ${d.exitCode})` });
        break;
      case 'compensation':
        facts.push({ id, at, rank: 3, text: `  compensation ${d.step}: ${d.ok ? 'ok' : 'FAILED'}${d.detail ? ` — ${d.detail}` : ''}` });
        break;
    }
  }
  const current = t.state?.stage ?? t.task.stage;
  if (current && !TERMINAL.has(t.task.status)) sawStage(current, now);
  for (const [stage, at] of stageAt) {
    facts.push({ id: `stage:${stage}`, at, rank: 0, text: stage === 'waiting' ? 'waiting for dependencies' : `stage ${stage}` });
  }
  // The live STOP (while running), else what the workflow recorded when it acted on it.
  const recorded = (t.events ?? []).find((e) => e.type === 'stop-requested')?.detail as StopInfo | undefined;
  const stop = t.state?.pendingStop ?? recorded ?? null;
  const stopAt = stop?.requestedAt ?? t.task.cancelRequestedAt;
  if (stopAt) {
    const deferred = t.state?.inCriticalWindow ? ' — deferred until the critical step (merge/deploy) ends' : '';
    facts.push({ id: 'stop', at: ms(stopAt), rank: 1, text: `STOP pending${stop?.requestedBy ? ` (by ${stop.requestedBy})` : ''}${stop?.reason ? `: ${stop.reason}` : ''}${deferred}` });
  }
  if (TERMINAL.has(t.task.status)) {
    const reason = t.task.failureReason ?? t.state?.failureReason;
    facts.push({ id: 'terminal', at: Infinity, rank: 9, text: `${key} ${t.task.status}${t.task.status === 'failed' && reason ? `: ${reason}` : ''}` });
  }
  return [...byId.values()];
}

async function cmdWatch(key: string, o: { interval: string }): Promise<number> {
  const every = Math.max(100, Number(o.interval) || 500);
  const seen = new Set<string>();
  let first = true;
  for (;;) {
    const t = await api<TaskResponse>('GET', taskRoute(key));
    const now = Date.now();
    if (first) {
      out(`${clock(now)}  watching ${key} (${t.task.repo}: ${t.task.title}) — ${t.task.status}`);
      first = false;
    }
    const fresh = factsOf(key, t, now)
      .filter((f) => !seen.has(f.id))
      .sort((a, b) => a.at - b.at || a.rank - b.rank);
    for (const f of fresh) {
      seen.add(f.id);
      out(`${clock(Number.isFinite(f.at) ? f.at : now)}  ${f.text}`);
    }
    if (TERMINAL.has(t.task.status)) return t.task.status === 'done' ? 0 : t.task.status === 'failed' ? 1 : 2;
    await sleep(every);
  }
}

async function cmdStop(key: string, o: { reason?: string }) {
  const r = await api<{ key: string; workflowId: string; outcome: string }>('POST', `${taskRoute(key)}/stop`, {
    ...(o.reason ? { reason: o.reason } : {}),
    requestedBy: 'cli',
  });
  out(`STOP sent to ${r.key} (workflow ${r.workflowId}).`);
  out('It ends cancelled once its current critical step (merge/deploy), if any, has finished.');
  out(`follow it with: orch watch ${r.key}`);
}

async function cmdQueue(o: { json?: boolean }) {
  const q = await api<any>('GET', '/queue');
  if (o.json) return void out(JSON.stringify(q, null, 2));
  const now = new Date(q.generatedAt).getTime() || Date.now();
  const c = q.tasks.counts;
  out(`tasks: ${c.total} — ${Object.entries(c.byStatus).map(([s, n]) => `${s} ${n}`).join(', ')}`);
  const stages = Object.entries(c.byStage as Record<string, number>);
  if (stages.length) out(`active by stage: ${stages.map(([s, n]) => `${s} ${n}`).join(', ')}`);

  const active = [...q.tasks.byStatus.queued, ...q.tasks.byStatus.running];
  out();
  out('ACTIVE');
  if (active.length === 0) out('  (none)');
  else
    out(
      table(
        ['  KEY', 'REPO', 'STATUS', 'STAGE', 'UPDATED', 'STOP', 'TITLE'],
        active.map((t: any) => [`  ${t.key}`, t.repo, t.status, t.stage, ago(t.updatedAt, now), t.cancelRequestedAt ? `requested ${ago(t.cancelRequestedAt, now)}` : '', t.title]),
      ),
    );

  out();
  out('LIVENESS (pending activities of running tasks)');
  const rows: unknown[][] = [];
  for (const l of q.liveness) {
    if (l.pendingActivities.length === 0) rows.push([`  ${l.key}`, l.ghost ? `workflow ${l.workflowStatus ?? 'missing'} (ghost)` : '(no activity pending)', '', '', '', '', '']);
    for (const a of l.pendingActivities) {
      rows.push([`  ${l.key}`, a.activityType, a.state, a.host, a.pid, a.heartbeatAgeMs === null ? 'none yet' : duration(a.heartbeatAgeMs), `${a.attempt ?? '—'}${a.lastFailure ? ` (last: ${a.lastFailure})` : ''}`]);
    }
  }
  if (rows.length === 0) out('  (none)');
  else out(table(['  KEY', 'ACTIVITY', 'STATE', 'HOST', 'PID', 'HEARTBEAT AGE', 'ATTEMPT'], rows as string[][]));

  out();
  out('LOCKS');
  if (q.locks.length === 0) out('  (none running)');
  else
    out(
      table(
        ['  LOCK', 'HOLDER', 'SINCE', 'WAITERS'],
        q.locks.map((l: any) => [
          `  ${l.lockId}`,
          l.error ? `? (${l.error})` : l.holder ? (l.holder.taskKey ?? l.holder.holderWorkflowId) : 'free',
          l.holder ? ago(l.holder.since, now) : '',
          l.waiters.map((w: any) => w.taskKey ?? w.holderWorkflowId).join(', '),
        ]),
      ),
    );

  out();
  out('STOPS');
  if (q.stop.deferred.length === 0) out('  deferred: (none)');
  for (const t of q.stop.deferred) {
    out(`  deferred: ${t.key} in ${t.stage ?? '—'} since ${ago(t.cancelRequestedAt, now)}${t.inCriticalWindow ? ' (critical window)' : ''}${t.reason ? `: ${t.reason}` : ''}`);
  }
  if (q.stop.recentlyCancelled.length === 0) out('  recently cancelled: (none)');
  for (const t of q.stop.recentlyCancelled.slice(0, 10)) {
    const comp = (t.compensation as { step: string; ok: boolean }[]).map((s) => `${s.step} ${s.ok ? 'ok' : 'FAILED'}`).join(', ');
    out(`  cancelled: ${t.key} ${ago(t.cancelledAt, now)}${t.reason ? ` (${t.reason})` : ''} — ${comp || 'no compensation recorded'}`);
  }

  const finished = [...q.tasks.byStatus.done, ...q.tasks.byStatus.failed, ...q.tasks.byStatus.cancelled]
    .sort((a: any, b: any) => new Date(b.updatedAt).getTime() - new Date(a.updatedAt).getTime())
    .slice(0, 10);
  out();
  out('RECENTLY FINISHED');
  if (finished.length === 0) out('  (none)');
  else
    out(
      table(
        ['  KEY', 'REPO', 'STATUS', 'FINISHED', 'TITLE / REASON'],
        finished.map((t: any) => [`  ${t.key}`, t.repo, t.status, ago(t.finishedAt ?? t.updatedAt, now), t.failureReason ?? t.title]),
      ),
    );
  for (const [part, msg] of Object.entries(q.errors ?? {})) out(`\nwarning: ${part}: ${msg}`);
}

async function cmdLogs(key: string, o: { follow?: boolean }): Promise<number> {
  const res = await call('GET', `${taskRoute(key)}/logs?follow=${o.follow ? 1 : 0}`, undefined, { accept: 'text/event-stream' });
  if (!res.ok) throw await errorOf(res);
  if (!res.body) throw new CliError('the API sent no log stream');
  const decoder = new TextDecoder();
  let buffer = '';
  let event = 'message';
  let data: string[] = [];
  let files = 0;
  let status: string | null = null;
  const dispatch = (): 'end' | undefined => {
    const payload = data.join('\n');
    const name = event;
    event = 'message';
    data = [];
    if (name === 'log') out(payload);
    else if (name === 'attempt') {
      let file = payload;
      try {
        file = (JSON.parse(payload) as { file: string }).file;
      } catch {
        /* keep the raw text */
      }
      out(`${files++ ? '\n' : ''}==> ${file} <==`);
    } else if (name === 'error') throw new CliError(`log stream failed: ${payload}`);
    else if (name === 'end') {
      try {
        status = (JSON.parse(payload) as { status: string | null }).status;
      } catch {
        /* ignore */
      }
      return 'end';
    }
    return undefined;
  };
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, '');
        buffer = buffer.slice(nl + 1);
        if (line === '') {
          if (data.length && dispatch() === 'end') {
            if (o.follow) process.stderr.write(`-- ${key} ${status ?? 'ended'} --\n`);
            return 0;
          }
          event = 'message';
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`the log stream from ${API_URL} broke off: ${(err as Error).message}`, 3);
  }
  throw new CliError(`the log stream from ${API_URL} ended without an end event`, 3);
}

async function cmdReconcile() {
  const res = await call('POST', '/api/reconcile', {}, { signal: AbortSignal.timeout(300_000) });
  if (res.status === 404) {
    const err = await errorOf(res);
    if (/no such route/.test(err.message)) throw new CliError(`the orch API at ${API_URL} is too old: it has no POST /api/reconcile (upgrade and restart it)`);
    throw err;
  }
  if (!res.ok) throw await errorOf(res);
  out(JSON.stringify(await res.json(), null, 2));
}

// ---- wiring -------------------------------------------------------------------------------------

const program = new Command()
  .name('orch')
  .description(`Operate orch pipelines through its API (${API_URL}; set ORCH_API_URL and ORCH_API_TOKEN).`)
  .showHelpAfterError()
  .addHelpText('after', '\nExit codes: 0 ok, 1 refused by the API or task failed, 2 task cancelled (watch), 3 API unreachable.');

let exitCode = 0;
const run =
  <A extends unknown[]>(fn: (...args: A) => Promise<number | void>) =>
  async (...args: A) => {
    const code = await fn(...args);
    if (typeof code === 'number') exitCode = code;
  };

program
  .command('start')
  .description('start a task (idempotent for a running key)')
  .requiredOption('--repo <repo>', 'configured repo name')
  .requiredOption('--title <title>', 'short title')
  .option('--key <key>', 'task key, e.g. ORCH-90 (generated when omitted)')
  .option('--description <text>', 'what to do (the agents get it in their prompt)')
  .option('--depends-on <keys>', 'comma-separated keys that must finish first')
  .action(run(cmdStart));

program.command('status').description("a task's status, stage, attempts, STOP and compensation").argument('<key>').option('--json', 'raw JSON').action(run(cmdStatus));

program
  .command('watch')
  .description('follow a task until it ends; exit 0 done, 1 failed, 2 cancelled')
  .argument('<key>')
  .option('--interval <ms>', 'poll interval', '500')
  .action(run(cmdWatch));

program.command('stop').description('STOP a task (kills its agent, cleans up; deferred during merge/deploy)').argument('<key>').option('--reason <reason>').action(run(cmdStop));

program.command('queue').description('running tasks, agent liveness, locks, STOPs').option('--json', 'raw JSON').action(run(cmdQueue));

program.command('logs').description("print a task's agent logs").argument('<key>').option('-f, --follow', 'keep streaming until the task ends').action(run(cmdLogs));

program.command('reconcile').description('ask the API to reconcile records with Temporal and the hosts').action(run(cmdReconcile));

try {
  await program.parseAsync(process.argv);
  process.exitCode = exitCode;
} catch (err) {
  if (err instanceof CliError) {
    process.stderr.write(`orch: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`orch: unexpected error: ${err instanceof Error ? (process.env.ORCH_DEBUG ? err.stack : err.message) : String(err)}\n`);
    process.exitCode = 1;
  }
}
