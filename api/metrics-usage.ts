// GET /metrics: what agents spent, as counters that follow the records' totals. A job's usage grows
// while its agent runs, so no row can be counted once: each scrape reads the sums of every job's
// usage by repo, stage and model (api/metrics-records.ts) and moves each counter up to its total.
// They start from the records' totals, not from zero, so an API restart is no counter reset and
// every replica serves the same values. A total that went down (a retried agent activity rewrote
// its row) holds its counter until the total passes it again.
import { Counter, type Registry } from 'prom-client';
import { cappedLabel } from './metrics-labels.js';
import type { UsageTotalRow } from './metrics-records.js';

const KINDS = [
  ['input', 'inputTokens'],
  ['output', 'outputTokens'],
  ['cache_read', 'cacheReadTokens'],
  ['cache_write', 'cacheWriteTokens'],
] as const;

type Labels = { repo: string; stage: string; model: string };

export function createUsageMetrics(registry: Registry, maxLabelValues?: number) {
  const tokens = new Counter({
    name: 'orch_agent_tokens_total',
    help: 'Tokens agents reported, by repo, stage, model and kind (input, output, cache_read, cache_write; cached input is not in input)',
    labelNames: ['repo', 'stage', 'model', 'kind'] as const,
    registers: [registry],
  });
  const cost = new Counter({
    name: 'orch_agent_cost_usd_total',
    help: 'What agents cost in USD, as they reported it or from the configured price, by repo, stage and model; runs of unknown cost are left out (their tokens are counted)',
    labelNames: ['repo', 'stage', 'model'] as const,
    registers: [registry],
  });
  const label = { repo: cappedLabel(maxLabelValues), stage: cappedLabel(maxLabelValues), model: cappedLabel(maxLabelValues) };

  /** Where each series stands (counter → label set → value). */
  const counted = new Map<Counter<string>, Map<string, number>>();
  const raise = <L extends string>(counter: Counter<L>, labels: Record<L, string>, total: number) => {
    const series = counted.get(counter) ?? new Map<string, number>();
    counted.set(counter, series);
    const id = JSON.stringify(labels);
    const now = series.get(id);
    if (now === undefined || total > now) {
      // inc(0) too: the series exists from its first job on.
      counter.inc(labels, Math.max(0, total - (now ?? 0)));
      series.set(id, Math.max(total, now ?? 0));
    }
  };

  return {
    /** Moves the counters up to the records' totals. */
    count(rows: UsageTotalRow[]): void {
      // Capped labels can fold several groups into one series: add them up first.
      const totals = new Map<string, { labels: Labels; tokens: number[]; cost: number | null }>();
      for (const r of rows) {
        const labels = { repo: label.repo(r.repo), stage: label.stage(r.stage), model: label.model(r.model) };
        const id = JSON.stringify(labels);
        const t = totals.get(id) ?? { labels, tokens: KINDS.map(() => 0), cost: null };
        KINDS.forEach(([, field], i) => (t.tokens[i]! += r[field] ?? 0));
        if (r.costUsd !== null) t.cost = (t.cost ?? 0) + r.costUsd;
        totals.set(id, t);
      }
      for (const t of totals.values()) {
        KINDS.forEach(([kind], i) => raise(tokens, { ...t.labels, kind }, t.tokens[i]!));
        // Rounded: a float sum taken in another order must not creep the counter up.
        if (t.cost !== null) raise(cost, t.labels, Math.round(t.cost * 1e9) / 1e9);
      }
    },
  };
}
