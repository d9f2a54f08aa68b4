// The usage counters of GET /metrics follow the records' totals: up only, unknown costs left out,
// labels capped.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { UsageTotalRow } from '../../api/metrics-records.js';
import { createUsageMetrics } from '../../api/metrics-usage.js';

const row = (p: Partial<UsageTotalRow>): UsageTotalRow => ({
  repo: 'demo',
  stage: 'development',
  model: 'claude-x',
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  costUsd: null,
  ...p,
});

async function setup(max?: number) {
  const registry = new Registry();
  const usage = createUsageMetrics(registry, max);
  const read = async () => {
    const text = await registry.metrics();
    return Object.fromEntries(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
  };
  return { usage, read };
}

describe('usage metrics', () => {
  it('exports tokens by kind for every model and a cost only where it is known', async () => {
    const { usage, read } = await setup();
    usage.count([
      row({ inputTokens: 1200, outputTokens: 300, cacheReadTokens: 5000, costUsd: 0.42 }),
      row({ stage: 'review', model: 'gpt-x', inputTokens: 800, outputTokens: 90, costUsd: null }),
      row({ stage: 'review', model: null, inputTokens: 10 }),
    ]);
    const m = await read();
    const dev = 'repo="demo",stage="development",model="claude-x"';
    expect(m[`orch_agent_tokens_total{${dev},kind="input"}`]).toBe(1200);
    expect(m[`orch_agent_tokens_total{${dev},kind="output"}`]).toBe(300);
    expect(m[`orch_agent_tokens_total{${dev},kind="cache_read"}`]).toBe(5000);
    expect(m[`orch_agent_tokens_total{${dev},kind="cache_write"}`]).toBe(0);
    expect(m[`orch_agent_cost_usd_total{${dev}}`]).toBe(0.42);
    expect(m['orch_agent_tokens_total{repo="demo",stage="review",model="gpt-x",kind="input"}']).toBe(800);
    expect(m['orch_agent_tokens_total{repo="demo",stage="review",model="(none)",kind="input"}']).toBe(10);
    expect(Object.keys(m).filter((k) => k.startsWith('orch_agent_cost_usd_total'))).toEqual([`orch_agent_cost_usd_total{${dev}}`]);
  });

  it('moves up to each new total, and holds when a total goes down', async () => {
    const { usage, read } = await setup();
    const key = 'orch_agent_tokens_total{repo="demo",stage="development",model="claude-x",kind="input"}';
    const cost = 'orch_agent_cost_usd_total{repo="demo",stage="development",model="claude-x"}';
    usage.count([row({ inputTokens: 100, costUsd: 0.1 })]);
    usage.count([row({ inputTokens: 250, costUsd: 0.2 })]);
    expect((await read())[key]).toBe(250);
    expect((await read())[cost]).toBeCloseTo(0.2, 12);
    // A retried activity rewrote its row with less: no decrease (Prometheus would read it as a reset).
    usage.count([row({ inputTokens: 180, costUsd: 0.15 })]);
    expect((await read())[key]).toBe(250);
    usage.count([row({ inputTokens: 300, costUsd: 0.3 })]);
    expect((await read())[key]).toBe(300);
    expect((await read())[cost]).toBeCloseTo(0.3, 12);
    // A new process starts from the records' totals, not from zero.
    const fresh = await setup();
    fresh.usage.count([row({ inputTokens: 300, costUsd: 0.3 })]);
    expect((await fresh.read())[key]).toBe(300);
  });

  it('folds label values past the cap into `other`, adding them up', async () => {
    const { usage, read } = await setup(2);
    usage.count([row({ model: 'a', inputTokens: 1 }), row({ model: 'b', inputTokens: 2 }), row({ model: 'c', inputTokens: 4 }), row({ model: 'd', inputTokens: 8 })]);
    const m = await read();
    expect(m['orch_agent_tokens_total{repo="demo",stage="development",model="other",kind="input"}']).toBe(12);
    expect(m['orch_agent_tokens_total{repo="demo",stage="development",model="a",kind="input"}']).toBe(1);
  });
});
