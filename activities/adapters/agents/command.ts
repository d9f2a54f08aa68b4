// Any program as an agent: the prompt on stdin (and in ORCH_PROMPT_FILE), its output is the log.
// It reports no events, so orch knows only its exit code, its output's timing and nothing of cost.
import type { AgentAdapter } from './adapter.js';

export const commandAdapter: AgentAdapter = {
  name: 'command',
  events: false,
  launch: async ({ command, args }) => ({ command, args, env: {} }),
  monitor: () => {
    return {
      consume: () => [],
      end: () => [],
      progress: () => ({ turns: 0, usage: { costUsd: null, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, turns: 0 } }),
      report: () => ({}),
    };
  },
};
