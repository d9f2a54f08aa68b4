// Operator views: `GET /queue` (what is running, stuck, stopping, locked) and the live agent log
// stream `GET /api/tasks/:key/logs` (Server-Sent Events). The `orch` CLI reads both.
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { and, count, desc, eq, inArray, isNotNull, notInArray } from 'drizzle-orm';
import express, { type RequestHandler, type Response } from 'express';
import type { Records } from '../activities/records.js';
import { untombstone } from '../activities/records.js';
import type { Db } from '../db/client.js';
import { taskEvents, tasks, type Task } from '../db/schema.js';
import { lockStateQuery, type LockState } from '../workflows/repo-lock.js';
import { stateQuery } from '../workflows/signals.js';
import { isTerminal, TERMINAL_STATUSES, type TaskStatus } from '../workflows/types.js';
import { HttpError, taskKeySchema } from './tasks.js';

export interface OperatorDeps {
  client: Client;
  db: Db;
  records: Records;
  /** The shared task queue: lock workflows on other queues belong to another orch. */
  taskQueue: string;
  /** Where `logs/tasks/<KEY>/<stage>-<attempt>.log` live. */
  dataDir: string;
  /** Bearer-token middleware; applied per route so this router never intercepts other paths. */
  auth?: RequestHandler;
}

const ACTIVE: TaskStatus[] = ['queued', 'running'];
/** The byStage bucket of active tasks whose row has no stage yet (starting, or waiting for dependencies). */
const NO_STAGE = '(no stage)';
const ALL_STATUSES: TaskStatus[] = ['queued', 'running', 'done', 'failed', 'cancelled'];
const LIMITS = { active: 500, finished: 200, cancelled: 50, liveness: 100, locks: 200 };
/** How long one Temporal call of a /queue snapshot may take (a workflow without a worker never answers a query). */
const RPC_DEADLINE_MS = 4000;
/** Activities that run on a host's own queue (`orch-host-<hostId>`); everything else runs on the shared queue. */
const HOST_ACTIVITIES = new Set(['prepareWorktree', 'runAgent', 'runGate', 'commitAndPush', 'killAgent', 'removeWorktree']);
const PENDING_STATES = ['UNSPECIFIED', 'SCHEDULED', 'STARTED', 'CANCEL_REQUESTED', 'PAUSED', 'PAUSE_REQUESTED'];

const errMsg = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** A protobuf Timestamp (seconds may be a Long) → epoch ms. */
function tsMs(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number | null {
  if (!ts || ts.seconds == null) return null;
  const s = ts.seconds as number | { toNumber(): number };
  const seconds = typeof s === 'number' ? s : typeof s === 'object' && 'toNumber' in s ? s.toNumber() : Number(s);
  const ms = seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
  return ms > 0 ? ms : null;
}
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Runs `fn` over `items`, at most `n` at a time, keeping order. */
async function mapLimit<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, lane));
  return out;
}

function taskView(t: Task) {
  const key = untombstone(t.key);
  return {
    key,
    ...(key !== t.key ? { tombstone: t.key } : {}),
    repo: t.repo,
    title: t.title,
    stage: t.stage,
    status: t.status,
    workflowId: t.workflowId,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
    finishedAt: t.finishedAt,
    cancelRequestedAt: t.cancelRequestedAt,
    failureReason: t.failureReason,
  };
}

export function createOperatorRouter(d: OperatorDeps) {
  const router = express.Router();
  const auth: RequestHandler = d.auth ?? ((_req, _res, next) => next());
  const deadline = <T>(fn: () => Promise<T>) => d.client.withDeadline(Date.now() + RPC_DEADLINE_MS, fn);

  // ---- GET /queue ---------------------------------------------------------------------------------

  async function taskSection() {
    const [statusCounts, stageCounts, active, finished] = await Promise.all([
      d.db.select({ status: tasks.status, n: count() }).from(tasks).groupBy(tasks.status),
      d.db.select({ stage: tasks.stage, status: tasks.status, n: count() }).from(tasks).where(inArray(tasks.status, ACTIVE)).groupBy(tasks.stage, tasks.status),
      d.db.select().from(tasks).where(inArray(tasks.status, ACTIVE)).orderBy(desc(tasks.createdAt)).limit(LIMITS.active),
      d.db.select().from(tasks).where(inArray(tasks.status, [...TERMINAL_STATUSES])).orderBy(desc(tasks.updatedAt)).limit(LIMITS.finished),
    ]);
    const byStatusCount = Object.fromEntries(ALL_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
    for (const r of statusCounts) byStatusCount[r.status] = r.n;
    const byStageCount: Record<string, number> = {};
    for (const r of stageCounts) {
      const stage = r.stage ?? NO_STAGE;
      byStageCount[stage] = (byStageCount[stage] ?? 0) + r.n;
    }
    const byStatus = Object.fromEntries(ALL_STATUSES.map((s) => [s, [] as ReturnType<typeof taskView>[]])) as Record<TaskStatus, ReturnType<typeof taskView>[]>;
    for (const t of [...active, ...finished]) byStatus[t.status].push(taskView(t));
    const byStage: Record<string, string[]> = {};
    for (const t of active) (byStage[t.stage ?? NO_STAGE] ??= []).push(untombstone(t.key));
    return {
      counts: { total: Object.values(byStatusCount).reduce((a, b) => a + b, 0), byStatus: byStatusCount, byStage: byStageCount },
      byStatus,
      byStage,
      limits: { active: LIMITS.active, finished: LIMITS.finished },
      active,
    };
  }

  async function stopSection() {
    const [deferredRows, cancelledRows] = await Promise.all([
      d.db
        .select()
        .from(tasks)
        .where(and(isNotNull(tasks.cancelRequestedAt), notInArray(tasks.status, [...TERMINAL_STATUSES])))
        .orderBy(desc(tasks.cancelRequestedAt)),
      d.db.select().from(tasks).where(eq(tasks.status, 'cancelled')).orderBy(desc(tasks.cancelledAt)).limit(LIMITS.cancelled),
    ]);
    const deferred = await mapLimit(deferredRows, 8, async (t) => {
      const state = await deadline(() => d.client.workflow.getHandle(t.workflowId).query(stateQuery)).catch(() => null);
      return {
        ...taskView(t),
        inCriticalWindow: state?.inCriticalWindow ?? null,
        reason: state?.pendingStop?.reason ?? null,
        requestedBy: state?.pendingStop?.requestedBy ?? null,
      };
    });
    const ids = cancelledRows.map((t) => t.id);
    const events = ids.length
      ? await d.db
          .select()
          .from(taskEvents)
          .where(and(inArray(taskEvents.taskId, ids), inArray(taskEvents.type, ['compensation', 'cancelled'])))
          .orderBy(taskEvents.id)
      : [];
    const recentlyCancelled = cancelledRows.map((t) => {
      const mine = events.filter((e) => e.taskId === t.id);
      const cancelled = mine.find((e) => e.type === 'cancelled')?.detail ?? {};
      return {
        ...taskView(t),
        cancelledAt: t.cancelledAt,
        reason: (cancelled.reason as string | null | undefined) ?? null,
        requestedBy: (cancelled.requestedBy as string | null | undefined) ?? null,
        compensation: mine.filter((e) => e.type === 'compensation').map((e) => ({ ...e.detail, at: e.createdAt })),
      };
    });
    return { deferred, recentlyCancelled };
  }

  async function decodeFirst(payloads: { payloads?: unknown[] | null } | null | undefined): Promise<unknown> {
    let list = (payloads?.payloads ?? []) as Parameters<typeof d.client.options.loadedDataConverter.payloadConverter.fromPayload>[0][];
    if (list.length === 0) return undefined;
    const dc = d.client.options.loadedDataConverter;
    for (const codec of [...dc.payloadCodecs].reverse()) list = await codec.decode(list);
    return list[0] ? dc.payloadConverter.fromPayload(list[0]) : undefined;
  }

  async function livenessOf(t: Task, now: number) {
    const base = { key: untombstone(t.key), workflowId: t.workflowId, status: t.status, stage: t.stage };
    let desc;
    try {
      desc = await deadline(() => d.client.workflow.getHandle(t.workflowId).describe());
    } catch (err) {
      return { ...base, workflowStatus: null, ghost: true, error: errMsg(err), pendingActivities: [] };
    }
    const workflowStatus = desc.status.name;
    const pending = desc.raw.pendingActivities ?? [];
    let stateHost: string | null | undefined;
    const hostFromState = async () => {
      if (stateHost === undefined) {
        stateHost = await deadline(() => d.client.workflow.getHandle(t.workflowId).query(stateQuery))
          .then((s) => s.host)
          .catch(() => null);
      }
      return stateHost;
    };
    const pendingActivities = await Promise.all(
      pending.map(async (a) => {
        const type = a.activityType?.name ?? 'unknown';
        const details = (await decodeFirst(a.heartbeatDetails).catch(() => undefined)) as { pid?: unknown; host?: unknown } | undefined;
        const isHostActivity = HOST_ACTIVITIES.has(type);
        const host = typeof details?.host === 'string' ? details.host : isHostActivity ? await hostFromState() : null;
        const lastHeartbeat = tsMs(a.lastHeartbeatTime);
        const started = tsMs(a.lastStartedTime);
        return {
          activityId: a.activityId ?? null,
          activityType: type,
          state: PENDING_STATES[a.state ?? 0] ?? String(a.state),
          attempt: a.attempt ?? null,
          maximumAttempts: a.maximumAttempts ?? null,
          taskQueue: isHostActivity ? (host ? `orch-host-${host}` : null) : d.taskQueue,
          host,
          pid: typeof details?.pid === 'number' ? details.pid : null,
          worker: a.lastWorkerIdentity || null,
          lastHeartbeatAt: iso(lastHeartbeat),
          heartbeatAgeMs: lastHeartbeat === null ? null : Math.max(0, now - lastHeartbeat),
          startedAt: iso(started),
          runningForMs: started === null ? null : Math.max(0, now - started),
          scheduledAt: iso(tsMs(a.scheduledTime)),
          lastFailure: a.lastFailure?.message ?? null,
        };
      }),
    );
    // The row says the task runs, but no workflow does: nothing will ever move it on.
    return { ...base, workflowStatus, ghost: workflowStatus !== 'RUNNING', pendingActivities };
  }

  async function locksSection() {
    const quoted = d.taskQueue.replace(/'/g, "\\'");
    const found: { workflowId: string; runId: string; startTime: Date }[] = [];
    for await (const wf of d.client.workflow.list({
      query: `WorkflowType='repoLock' AND ExecutionStatus='Running' AND TaskQueue='${quoted}'`,
    })) {
      found.push({ workflowId: wf.workflowId, runId: wf.runId, startTime: wf.startTime });
      if (found.length >= LIMITS.locks) break;
    }
    found.sort((a, b) => a.workflowId.localeCompare(b.workflowId));
    const holderKey = (id: string) => (id.startsWith('task-') ? id.slice('task-'.length) : null);
    return mapLimit(found, 8, async (wf) => {
      try {
        const s: LockState = await deadline(() => d.client.workflow.getHandle(wf.workflowId, wf.runId).query(lockStateQuery));
        return {
          lockId: s.lockId,
          workflowId: wf.workflowId,
          startedAt: wf.startTime,
          holder: s.holder ? { ...s.holder, taskKey: holderKey(s.holder.holderWorkflowId) } : null,
          waiters: s.waiters.map((w) => ({ ...w, taskKey: holderKey(w.holderWorkflowId) })),
          granted: s.granted,
        };
      } catch (err) {
        return { lockId: wf.workflowId, workflowId: wf.workflowId, startedAt: wf.startTime, holder: null, waiters: [], granted: null, error: errMsg(err) };
      }
    });
  }

  router.get('/queue', auth, async (_req, res) => {
    const now = Date.now();
    const errors: Record<string, string> = {};
    const [taskPart, stop, locks] = await Promise.all([
      taskSection(),
      stopSection(),
      locksSection().catch((err) => {
        errors.locks = errMsg(err);
        return [];
      }),
    ]);
    const { active, ...taskOut } = taskPart;
    const liveness = await mapLimit(
      active.filter((t) => t.status === 'running').slice(0, LIMITS.liveness),
      8,
      (t) => livenessOf(t, now),
    );
    res.json({ generatedAt: new Date(now).toISOString(), taskQueue: d.taskQueue, tasks: taskOut, stop, liveness, locks, errors });
  });

  // ---- GET /api/tasks/:key/logs (SSE) -------------------------------------------------------------

  router.get('/api/tasks/:key/logs', auth, async (req, res) => {
    const parsed = taskKeySchema.safeParse(req.params.key);
    if (!parsed.success) throw new HttpError(400, `key: ${parsed.error.issues[0]?.message ?? 'invalid'}`, { field: 'key' });
    const key = parsed.data;
    const row = await d.records.findByKey(key);
    if (!row) throw new HttpError(404, `unknown task ${key}`, { key });
    const follow = !['0', 'false', 'no'].includes(String(req.query.follow ?? '1'));
    await streamLogs(res, row, key, follow);
  });

  async function streamLogs(res: Response, row: Task, key: string, follow: boolean) {
    const dir = path.join(d.dataDir, 'logs', 'tasks', key);
    let closed = false;
    res.on('close', () => {
      closed = true;
    });
    res.status(200).set({
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();

    const write = async (chunk: string) => {
      if (closed) return;
      if (!res.write(chunk)) await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    };
    const send = (event: string, data: string) => write(`event: ${event}\n${data.split('\n').map((l) => `data: ${l}\n`).join('')}\n`);

    // Files in discovery order: the job rows' order first (the attempts as they ran), then by mtime.
    interface Followed { name: string; offset: number; decoder: StringDecoder; rest: string }
    const files: Followed[] = [];
    let current: Followed | null = null;
    const jobOrder = async () => {
      const jobs = await d.records.jobsOf(row.id).catch(() => []);
      return new Map(jobs.filter((j) => j.logFile).map((j, i) => [path.basename(j.logFile!), i]));
    };
    const discover = async () => {
      const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.log') && !files.some((f) => f.name === n));
      if (names.length === 0) return;
      const order = await jobOrder();
      const withTimes = await Promise.all(names.map(async (name) => ({ name, mtime: (await stat(path.join(dir, name)).catch(() => null))?.mtimeMs ?? 0 })));
      withTimes.sort((a, b) => (order.get(a.name) ?? Infinity) - (order.get(b.name) ?? Infinity) || a.mtime - b.mtime || a.name.localeCompare(b.name));
      for (const { name } of withTimes) files.push({ name, offset: 0, decoder: new StringDecoder('utf8'), rest: '' });
    };
    const attemptInfo = (name: string) => {
      const m = /^(.+)-(\d+)\.log$/.exec(name);
      return JSON.stringify(m ? { file: name, stage: m[1], attempt: Number(m[2]) } : { file: name, stage: name.replace(/\.log$/, ''), attempt: null });
    };
    const emitLines = async (f: Followed, text: string, flush: boolean) => {
      const all = (f.rest + text).replace(/\r\n?/g, '\n');
      const lines = all.split('\n');
      f.rest = flush ? '' : lines.pop()!;
      if (flush && lines.at(-1) === '') lines.pop();
      if (lines.length === 0) return;
      if (current !== f) {
        if (current && current.rest) await emitLines(current, current.decoder.end(), true);
        current = f;
        await send('attempt', attemptInfo(f.name));
      }
      await send('log', lines.join('\n'));
    };
    const MAX_READ = 1 << 20;
    /** Reads what was appended to every file since the last pass. True when anything was read. */
    const pass = async (): Promise<boolean> => {
      await discover();
      let any = false;
      for (const f of files) {
        if (closed) return any;
        const size = (await stat(path.join(dir, f.name)).catch(() => null))?.size ?? 0;
        if (size < f.offset) f.offset = 0; // truncated or replaced: start over
        if (size === f.offset) continue;
        const fh = await open(path.join(dir, f.name), 'r').catch(() => null);
        if (!fh) continue;
        try {
          const buf = Buffer.alloc(Math.min(size - f.offset, MAX_READ));
          const { bytesRead } = await fh.read(buf, 0, buf.length, f.offset);
          f.offset += bytesRead;
          if (bytesRead > 0) {
            any = true;
            await emitLines(f, f.decoder.write(buf.subarray(0, bytesRead)), false);
          }
        } finally {
          await fh.close();
        }
      }
      return any;
    };
    const drain = async () => {
      while (!closed && (await pass()));
      // Partial last lines: the current file's first, so no spurious file switch.
      const ordered = current ? [current, ...files.filter((f) => f !== current)] : files;
      for (const f of ordered) {
        const tail = f.decoder.end();
        if (f.rest || tail) await emitLines(f, tail, true);
      }
    };
    const statusNow = async (): Promise<TaskStatus | null> => {
      const [r] = await d.db.select({ status: tasks.status }).from(tasks).where(eq(tasks.id, row.id)).limit(1);
      return r?.status ?? null;
    };

    try {
      if (!follow) {
        await drain();
        const status = await statusNow();
        await send('end', JSON.stringify({ key, status, terminal: status ? isTerminal(status) : null, follow: false }));
        return void res.end();
      }
      let lastStatusCheck = 0;
      let lastWrite = Date.now();
      for (;;) {
        if (closed) return;
        if (await pass()) lastWrite = Date.now();
        if (Date.now() - lastStatusCheck >= 1000) {
          lastStatusCheck = Date.now();
          const status = await statusNow();
          if (status === null || isTerminal(status)) {
            await drain();
            await send('end', JSON.stringify({ key, status, terminal: true, follow: true }));
            return void res.end();
          }
        }
        if (Date.now() - lastWrite > 15_000) {
          await write(': keep-alive\n\n');
          lastWrite = Date.now();
        }
        await sleep(250);
      }
    } catch (err) {
      if (!closed) {
        await send('error', JSON.stringify({ error: errMsg(err) })).catch(() => undefined);
        res.end();
      }
    }
  }

  return router;
}
