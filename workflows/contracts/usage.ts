// What agents spend and report while they run: one shape for attempts, stages, tasks and metrics.

/**
 * What an agent run spent, exactly as the agent reported it (one shape for attempts, stages and
 * tasks). Cached input is counted apart from `inputTokens`. `costUsd` is null when unknown: the
 * agent reports tokens only and no price is configured for its model; it is never a silent 0.
 */
export interface Usage {
  costUsd: number | null;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  turns: number;
}

/** What a running agent is doing, for heartbeats, the Web UI and `orch status`. */
export interface AgentProgress {
  turns: number;
  /** The tool it is running or last ran (`Bash`, `command_execution`, …). */
  lastTool?: string;
  usage: Usage;
  sessionId?: string;
  model?: string;
  /** ISO time of the agent's last output or event. */
  lastActivityAt?: string;
}

/** Why an agent run failed, when it was not just its exit code. */
export interface AgentFailure {
  /** `budget`: over its budget, never retried. `stalled`: silent for `timeouts.idle`. `agent-error`: the agent's own error result. */
  kind: 'budget' | 'stalled' | 'agent-error';
  reason: string;
}

/** Nothing spent yet. */
export const NO_USAGE: Usage = { costUsd: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, turns: 0 };

/** The sum of `usages`; the cost is unknown (null) as soon as one of them is. */
export function addUsage(...usages: (Usage | undefined)[]): Usage {
  const total = { ...NO_USAGE };
  for (const u of usages) {
    if (!u) continue;
    total.costUsd = total.costUsd === null || u.costUsd === null ? null : total.costUsd + u.costUsd;
    total.inputTokens += u.inputTokens;
    total.outputTokens += u.outputTokens;
    total.cacheReadTokens += u.cacheReadTokens;
    total.cacheWriteTokens += u.cacheWriteTokens;
    total.turns += u.turns;
  }
  return total;
}

/** Tokens a budget's `maxTokens` counts: everything the model read or wrote, cached or not. */
export const totalTokens = (u: Usage): number => u.inputTokens + u.outputTokens + u.cacheReadTokens + u.cacheWriteTokens;
