// Watches one agent run while it lasts: follows its raw output, turns its events into a readable
// transcript and live progress, and stops it when it goes over its budget or falls silent for
// `timeouts.idle`. Heartbeats are not this module's business: a stalled agent is not a dead worker.
import { appendFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { totalTokens, type AgentFailure, type AgentProgress } from '../../workflows/contracts/index.js';
import type { AgentOutcome, AgentRun } from '../adapters/agent-process.js';
import type { AgentMonitor } from '../adapters/agents/index.js';
import { FileFollower } from '../adapters/agents/follow.js';

export interface WatchOptions {
  run: AgentRun;
  /** The file the agent writes (stdout and stderr). */
  output: string;
  /** Where the readable transcript goes; none for an agent without events (its output is its log). */
  transcript?: string;
  monitor: AgentMonitor;
  idleMs: number;
  budget?: { maxCostUsd?: number; maxTokens?: number };
  killGraceMs: number;
  onProgress?: (progress: AgentProgress) => void;
  tickMs?: number;
}

export interface WatchResult {
  outcome: AgentOutcome;
  /** Set when orch stopped the agent: over budget, or stalled. */
  stopped?: AgentFailure;
}

const clock = () => new Date().toISOString().slice(11, 19);

export async function watchAgent(o: WatchOptions): Promise<WatchResult> {
  const tickMs = o.tickMs ?? 250;
  const follower = new FileFollower(o.output);
  let lastActivity = Date.now();
  let lastSignature = '';
  let stopped: AgentFailure | undefined;
  let outcome: AgentOutcome | undefined;
  void o.run.done.then((value) => (outcome = value));

  const write = async (lines: string[]) => {
    if (o.transcript && lines.length) await appendFile(o.transcript, lines.map((l) => `${clock()} ${l}\n`).join(''));
  };
  const tick = async (final: boolean) => {
    // Chunk by chunk, each written out before the next is read: memory stays at about one chunk
    // (and the parser's line cap) however far the agent got ahead.
    for await (const chunk of follower.chunks()) {
      lastActivity = Date.now();
      await write(o.monitor.consume(chunk));
    }
    const lines: string[] = [];
    if (o.monitor.poll) lines.push(...(await o.monitor.poll()));
    if (final) lines.push(...o.monitor.end());
    await write(lines);
    const progress = o.monitor.progress();
    // An event on a side channel (Codex's session file) is activity too.
    const signature = `${progress.turns}/${totalTokens(progress.usage)}/${progress.lastTool ?? ''}`;
    if (signature !== lastSignature) {
      lastSignature = signature;
      lastActivity = Date.now();
    }
    o.onProgress?.({ ...progress, lastActivityAt: new Date(lastActivity).toISOString() });
    return progress;
  };
  const stop = async (failure: AgentFailure) => {
    stopped = failure;
    await write([`orch: stopping the agent: ${failure.reason}`]);
    await o.run.kill(o.killGraceMs);
  };

  try {
    while (outcome === undefined) {
      await Promise.race([o.run.done, sleep(tickMs)]);
      if (outcome !== undefined) break;
      const progress = await tick(false);
      if (stopped) continue;
      const over = overBudget(progress, o.budget);
      if (over) await stop({ kind: 'budget', reason: over });
      else if (Date.now() - lastActivity > o.idleMs) {
        await stop({ kind: 'stalled', reason: `stalled: no output or event from the agent for ${Math.round(o.idleMs / 1000)}s` });
      }
    }
    await tick(true);
  } finally {
    await follower.close();
  }
  return { outcome: await o.run.done, ...(stopped && { stopped }) };
}

/** Why `progress` is over `budget`, or undefined. An unknown cost cannot exceed a cost budget. */
export function overBudget(progress: AgentProgress, budget: WatchOptions['budget']): string | undefined {
  if (!budget) return undefined;
  const { usage } = progress;
  if (budget.maxCostUsd !== undefined && usage.costUsd !== null && usage.costUsd > budget.maxCostUsd) {
    return `budget exceeded: spent $${usage.costUsd.toFixed(4)}, more than the $${budget.maxCostUsd.toFixed(4)} left`;
  }
  if (budget.maxTokens !== undefined && totalTokens(usage) > budget.maxTokens) {
    return `budget exceeded: used ${totalTokens(usage)} tokens, more than the ${budget.maxTokens} left`;
  }
  return undefined;
}
