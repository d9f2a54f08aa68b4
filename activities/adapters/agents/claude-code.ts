// Claude Code (`claude -p --output-format stream-json --verbose`), unattended.
//
// As root, Claude Code refuses bypassPermissions, so orch does not ask for it: `acceptEdits` lets the
// agent edit files inside its working directory (writes elsewhere are denied by the CLI, and by the
// sandbox), and `--allowedTools` grants the tools that need a prompt otherwise (Bash). The budget is
// passed as `--max-budget-usd` too, so the CLI itself stops at it; orch enforces it as well.
import { addUsage, usageText, type AgentProgress, type PriceTable, type Usage } from '../../../workflows/contracts/index.js';
import { clip, type AgentAdapter, type AgentMonitor, type AgentReport } from './adapter.js';
import { ClaudeStreamParser, resultTotals, type ClaudeStreamEvent } from './claude-stream.js';
import { costOf } from './pricing.js';

export const CLAUDE_TOOLS = ['Bash', 'Edit', 'Write', 'MultiEdit', 'NotebookEdit', 'Read', 'Glob', 'Grep', 'LS', 'TodoWrite'];

/** Error results that end a run, and what orch calls them. */
const BUDGET_SUBTYPE = 'error_max_budget_usd';

export const claudeCodeAdapter: AgentAdapter = {
  name: 'claude-code',
  events: true,
  async launch({ command, args, resumeSession, budget }) {
    const own = ['-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'acceptEdits', '--allowedTools', CLAUDE_TOOLS.join(',')];
    if (budget?.maxCostUsd !== undefined) own.push('--max-budget-usd', budget.maxCostUsd.toFixed(6));
    if (resumeSession) own.push('--resume', resumeSession);
    return {
      command,
      args: [...own, ...args],
      // Unattended: no update checks, no telemetry round trips that could stall a run.
      env: { CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1' },
    };
  },
  monitor: ({ prices }) => new ClaudeMonitor(prices),
};

class ClaudeMonitor implements AgentMonitor {
  readonly #parser = new ClaudeStreamParser();
  readonly #prices: PriceTable;
  /** Per assistant message id: Claude Code prints a message once per content block, with the same usage. */
  readonly #messages = new Map<string, Usage>();
  #sessionId: string | undefined;
  #model: string | undefined;
  #lastTool: string | undefined;
  #report: AgentReport = {};

  constructor(prices: PriceTable) {
    this.#prices = prices;
  }

  consume(chunk: Buffer): string[] {
    return this.#parser.push(chunk).flatMap((event) => this.#line(event));
  }

  end(): string[] {
    return this.#parser.end().flatMap((event) => this.#line(event));
  }

  progress(): AgentProgress {
    const live = this.#report.usage ?? this.#liveUsage();
    return { turns: live.turns, usage: live, ...(this.#lastTool && { lastTool: this.#lastTool }), ...(this.#sessionId && { sessionId: this.#sessionId }), ...(this.#model && { model: this.#model }) };
  }

  report(): AgentReport {
    return { ...this.#report, ...(this.#sessionId && { sessionId: this.#sessionId }), ...(this.#model && { model: this.#model }) };
  }

  /** Usage so far from the assistant messages: until the result, cost is known only from a configured price. */
  #liveUsage(): Usage {
    // One turn a message; the cost is known only from a configured price until the result says it.
    const total = addUsage(...this.#messages.values());
    return { ...total, costUsd: costOf(this.#prices, this.#model, total) };
  }

  #line(event: ClaudeStreamEvent): string[] {
    switch (event.type) {
      case 'init':
        this.#sessionId = event.sessionId || this.#sessionId;
        this.#model = event.model || this.#model;
        return [`session ${event.sessionId} · model ${event.model}${event.permissionMode ? ` · ${event.permissionMode}` : ''}`];
      case 'assistant': {
        if (event.messageId && event.usage) {
          const u = event.usage;
          this.#messages.set(event.messageId, { costUsd: null, inputTokens: u.inputTokens, outputTokens: u.outputTokens, cacheReadTokens: u.cacheReadInputTokens, cacheWriteTokens: u.cacheCreationInputTokens, turns: 1 });
        }
        const lines = event.text.trim() ? [`assistant: ${clip(event.text)}`] : [];
        for (const tool of event.toolUses) {
          this.#lastTool = tool.name;
          lines.push(`→ ${tool.name} ${clip(describeInput(tool.input), 300)}`);
        }
        return lines;
      }
      case 'toolResults':
        // What the tool printed, each line marked as output (`  | `), at most a screenful per call.
        return event.results.flatMap((r) => [...(r.isError ? ['← tool error'] : []), ...outputLines(r.text)]);
      case 'apiRetry':
        return [`api retry ${event.attempt ?? '?'}/${event.maxRetries ?? '?'}${event.errorStatus ? ` (HTTP ${event.errorStatus})` : ''}`];
      case 'permissionDenied':
        return [`permission denied: ${event.toolName ?? 'a tool'}`];
      case 'result': {
        const totals = resultTotals(event);
        const usage: Usage = {
          costUsd: totals.costUsd ?? costOf(this.#prices, this.#model, { inputTokens: totals.inputTokens, outputTokens: totals.outputTokens, cacheReadTokens: totals.cacheReadInputTokens, cacheWriteTokens: totals.cacheCreationInputTokens }),
          inputTokens: totals.inputTokens,
          outputTokens: totals.outputTokens,
          cacheReadTokens: totals.cacheReadInputTokens,
          cacheWriteTokens: totals.cacheCreationInputTokens,
          turns: event.numTurns ?? this.#messages.size,
        };
        this.#sessionId = event.sessionId ?? this.#sessionId;
        this.#report = { usage };
        if (event.isError) {
          const why = event.errors.length ? `: ${event.errors.join('; ')}` : event.result ? `: ${clip(event.result, 300)}` : '';
          this.#report.failure = event.subtype === BUDGET_SUBTYPE
            ? { kind: 'budget', reason: `budget exceeded: claude-code stopped at its --max-budget-usd${why}` }
            : { kind: 'agent-error', reason: `claude-code ended with ${event.subtype || 'an error'}${why}` };
        }
        return [`result: ${event.subtype}${event.isError ? ' (error)' : ''} · ${usageText(usage)}`];
      }
      case 'parseError':
        return event.reason === 'line-too-long' ? [`(a ${event.length}-character line was not kept)`] : [event.excerpt];
      case 'other':
        return [];
    }
  }
}

const MAX_OUTPUT_LINES = 400;

export const OUTPUT_MARK = '  | ';

function outputLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const kept = lines.slice(0, MAX_OUTPUT_LINES).map((l) => `${OUTPUT_MARK}${l.length > 2000 ? `${l.slice(0, 2000)}…` : l}`);
  return lines.length > MAX_OUTPUT_LINES ? [...kept, `${OUTPUT_MARK}(${lines.length - MAX_OUTPUT_LINES} more line(s))`] : kept;
}

/** The interesting part of a tool's input: the command, the file, or the whole input, short. */
function describeInput(input: unknown): string {
  if (input && typeof input === 'object') {
    const o = input as Record<string, unknown>;
    for (const key of ['command', 'file_path', 'path', 'pattern', 'url']) if (typeof o[key] === 'string') return o[key] as string;
  }
  return JSON.stringify(input) ?? '';
}
