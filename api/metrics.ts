// GET /metrics — orch's own Prometheus metrics, served by the API.
//
// Stages, STOPs and compensation run in worker processes on other hosts, so the API does not see
// them happen: it reads their records. On each scrape it reads the `task_events` and
// `webhook_deliveries` rows newer than the last id it has counted (at most `batch × maxBatches`
// rows per scrape; the rest on the next one) and feeds them to counters and histograms. Each row
// is counted once: one refresh runs at a time, and the cursor only moves past rows it has counted.
//
// Counting starts when the API process starts (rows recorded before are skipped), like any
// Prometheus counter: a restart is a counter reset, which rate() and increase() handle.
//
// Rows are counted once they are `settleMs` old (default 2 s): a row with a lower id whose insert
// has not committed yet would otherwise be skipped for good. A webhook delivery is counted once it
// has its outcome (it is inserted as `processing` and updated when orch has acted); one still
// `processing` after `stuckMs` (default 5 min) is counted as `processing`: its handler died.
//
// What agents spent is the exception: totals of the job rows, not rows counted once (api/metrics-usage.ts).
//
// Temporal's own runtime metrics (task slots, poll latencies, …) are served by each worker on
// ORCH_WORKER_METRICS_ADDRESS (see worker/main.ts), not here. The reads are in api/metrics-records.ts.
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Db } from '../db/client.js';
import { TASK_STATUSES } from '../workflows/contracts/index.js';
import { cappedLabel } from './metrics-labels.js';
import { createApprovalMetrics } from './metrics-approvals.js';
import { createMetricsRecords, type EventRow } from './metrics-records.js';
import { createUsageMetrics } from './metrics-usage.js';
import { DELIVERY_OUTCOMES } from './plane/outcome.js';

export interface ApiMetricsOptions {
  db: Db;
  log?: Pick<Logger, 'warn'>;
  /** Also export the API process's own metrics (CPU, memory, event loop): `orch_api_process_*`, `orch_api_nodejs_*`. */
  processMetrics?: boolean;
  /** How old a row must be before it is counted. */
  settleMs?: number;
  /** How long a webhook delivery may stay `processing` before it is counted as such. */
  stuckMs?: number;
  /** Rows read per query, and queries per table per scrape. */
  batch?: number;
  maxBatches?: number;
  /** Count rows recorded before this process started too (tests, one-off reports). */
  fromStart?: boolean;
  /** How long a scrape waits for the refresh before it serves what it has. */
  scrapeWaitMs?: number;
}

export interface ApiMetrics {
  registry: Registry;
  /** Reads the new rows and updates the metrics. Concurrent calls share one refresh. */
  refresh(): Promise<void>;
  /** The express handler for GET /metrics. */
  handler: RequestHandler;
}

/** `webhook_deliveries.outcome` is `started`, `ignored: <why>`, `rejected: <error>`, …: its family is the part before the colon. */
export function webhookOutcomeFamily(outcome: string): string {
  const family = outcome.split(':', 1)[0]!.trim();
  return (DELIVERY_OUTCOMES as readonly string[]).includes(family) ? family : 'other';
}

export function createApiMetrics(o: ApiMetricsOptions): ApiMetrics {
  const records = createMetricsRecords(o.db);
  const settleMs = o.settleMs ?? 2000;
  const stuckMs = o.stuckMs ?? 5 * 60_000;
  const batch = o.batch ?? 1000;
  const maxBatches = o.maxBatches ?? 10;
  const scrapeWaitMs = o.scrapeWaitMs ?? 5000;
  const processStartedAt = new Date();
  const registry = new Registry();
  if (o.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'orch_api_' });

  const webhooks = new Counter({
    name: 'orch_webhook_deliveries_total',
    help: 'Webhook deliveries by source and outcome family (started, stop-signalled, ignored, duplicate, rejected, error, processing = stuck, other)',
    labelNames: ['source', 'outcome'] as const,
    registers: [registry],
  });
  const stopLatency = new Histogram({
    name: 'orch_stop_latency_seconds',
    help: 'STOP requested (signal, API, CLI, Plane or workflow cancel) → task cancelled, compensation included; a STOP deferred by merge or deploy includes the wait',
    buckets: [0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [registry],
  });
  const killLatency = new Histogram({
    name: 'orch_stop_kill_latency_seconds',
    help: "STOP requested → the running agent's process group gone (only STOPs that found an agent running)",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60],
    registers: [registry],
  });
  const stageDuration = new Histogram({
    name: 'orch_stage_duration_seconds',
    help: "A stage that passed: agent stages from their first attempt's start to the pass (retries included); merge and deploy from start to finish",
    labelNames: ['stage'] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400],
    registers: [registry],
  });
  const attemptsFailed = new Counter({
    name: 'orch_stage_attempts_failed_total',
    help: 'Agent stage attempts that failed (agent exit, quality gate, push)',
    labelNames: ['stage'] as const,
    registers: [registry],
  });
  const hostsLost = new Counter({
    name: 'orch_host_lost_total',
    help: 'Stage attempts moved to another host because their host stopped answering',
    registers: [registry],
  });
  const compensation = new Counter({
    name: 'orch_compensation_steps_total',
    help: 'STOP compensation steps by step and result (ok = "true" | "false")',
    labelNames: ['step', 'ok'] as const,
    registers: [registry],
  });
  const finished = new Counter({
    name: 'orch_tasks_finished_total',
    help: 'Tasks that ended, by status (done, failed, cancelled)',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const tasksGauge = new Gauge({
    name: 'orch_tasks',
    help: 'Task rows by status, now',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const stopPending = new Gauge({
    name: 'orch_tasks_stop_pending',
    help: 'Active tasks with a STOP requested and not yet applied (e.g. deferred by a merge or deploy)',
    registers: [registry],
  });
  const usage = createUsageMetrics(registry);
  const refreshErrors = new Counter({
    name: 'orch_metrics_refresh_errors_total',
    help: 'Scrapes whose read of the records failed (the metrics served are then stale)',
    registers: [registry],
  });
  const lastRefresh = new Gauge({
    name: 'orch_metrics_last_refresh_timestamp_seconds',
    help: 'When the metrics were last brought up to date with the records',
    registers: [registry],
  });
  const cursorGauge = new Gauge({
    name: 'orch_metrics_cursor',
    help: 'The last row id counted, per table',
    labelNames: ['table'] as const,
    registers: [registry],
  });

  const stageLabel = cappedLabel();
  const stepLabel = cappedLabel();
  const approvals = createApprovalMetrics(registry, stageLabel);
  const seconds = (from: Date | string | null | undefined, to: Date | string | null | undefined) => {
    if (!from || !to) return null;
    const s = (new Date(to).getTime() - new Date(from).getTime()) / 1000;
    return Number.isFinite(s) && s >= 0 ? s : null;
  };

  let cursors: { events: number; deliveries: number } | null = null;

  async function initialCursors() {
    return o.fromStart ? { events: 0, deliveries: 0 } : records.lastIdsBefore(processStartedAt);
  }

  function countEvent(e: EventRow) {
    switch (e.type) {
      case 'stage-passed': {
        const s = seconds(e.stageStartedAt, e.createdAt);
        if (s !== null) stageDuration.observe({ stage: stageLabel(e.stage) }, s);
        break;
      }
      case 'merge-finished':
      case 'deploy-finished': {
        const s = seconds(e.stepStartedAt, e.createdAt);
        if (s !== null) stageDuration.observe({ stage: stageLabel(e.type === 'merge-finished' ? 'merge' : 'deploy') }, s);
        break;
      }
      case 'stage-attempt-failed':
        attemptsFailed.inc({ stage: stageLabel(e.stage) });
        break;
      case 'host-lost':
        hostsLost.inc();
        break;
      case 'approval-decided':
        approvals.decided(e);
        break;
      case 'compensation':
        compensation.inc({ step: stepLabel(String(e.detail?.step ?? '(none)')), ok: String(e.detail?.ok === true) });
        break;
      case 'cancelled': {
        finished.inc({ status: 'cancelled' });
        const requested = e.stopRequestedAt ?? e.taskCancelRequestedAt;
        const s = seconds(requested, e.createdAt);
        if (s !== null) stopLatency.observe(s);
        const k = seconds(requested, e.agentKilledAt);
        if (k !== null) killLatency.observe(k);
        break;
      }
      case 'done':
      case 'failed':
        finished.inc({ status: e.type });
        break;
    }
  }

  const readEvents = (after: number) => records.eventsAfter(after, { limit: batch, settleMs });
  const readDeliveries = (after: number) => records.deliveriesAfter(after, { limit: batch, settleMs, stuckMs });

  /** Counts rows in id order up to the first one that is not ready, moving the cursor past each row it counts. */
  async function drain<R extends { id: number }>(
    table: 'events' | 'deliveries',
    read: (after: number) => Promise<R[]>,
    ready: (r: R) => boolean,
    count: (r: R) => void,
  ): Promise<void> {
    const c = cursors!;
    for (let i = 0; i < maxBatches; i++) {
      const rows = await read(c[table]);
      for (const r of rows) {
        if (!ready(r)) return;
        c[table] = r.id;
        try {
          count(r);
        } catch (err) {
          // A row that cannot be counted is skipped, never retried: retrying would count its neighbours twice.
          o.log?.warn({ err, table, id: r.id }, 'metrics: skipped a row that could not be counted');
        }
      }
      if (rows.length < batch) return;
    }
  }

  async function doRefresh() {
    cursors ??= await initialCursors();
    const c = cursors;
    await drain('events', readEvents, (e) => !e.young, countEvent);
    await drain(
      'deliveries',
      readDeliveries,
      (d) => !d.young && (d.outcome !== 'processing' || d.stuck),
      (d) => webhooks.inc({ source: d.source, outcome: webhookOutcomeFamily(d.outcome) }),
    );
    cursorGauge.set({ table: 'task_events' }, c.events);
    cursorGauge.set({ table: 'webhook_deliveries' }, c.deliveries);

    usage.count(await records.usageTotals());
    const byStatus = await records.tasksByStatus();
    for (const s of TASK_STATUSES) tasksGauge.set({ status: s }, byStatus.find((r) => r.status === s)?.n ?? 0);
    stopPending.set(byStatus.reduce((n, r) => n + r.stopPending, 0));
    lastRefresh.set(Date.now() / 1000);
  }

  let inFlight: Promise<void> | null = null;
  const refresh = () => {
    inFlight ??= doRefresh()
      .catch((err: unknown) => {
        refreshErrors.inc();
        o.log?.warn({ err }, 'metrics: could not read the records; serving stale metrics');
      })
      .finally(() => {
        inFlight = null;
      });
    return inFlight;
  };

  const handler: RequestHandler = async (_req, res) => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([refresh(), new Promise((r) => (timer = setTimeout(r, scrapeWaitMs)))]);
    clearTimeout(timer);
    res.set('content-type', registry.contentType).send(await registry.metrics());
  };

  return { registry, refresh, handler };
}
