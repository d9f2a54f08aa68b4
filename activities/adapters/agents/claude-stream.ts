// Claude Code's `-p --output-format stream-json --verbose` output, one JSON object per line, as a
// small typed event union. Checked against @anthropic-ai/claude-code 2.1.328
// (test/fixtures/agents/claude-*.jsonl are real captured lines). Pure and dependency-free.
import { arr, bool, num, obj, type ParseError, str, StreamParser } from './lines.js';

export type { ParseError } from './lines.js';

/** Token counts as Claude Code reports them (Anthropic's usage; cache tokens counted apart). */
export interface ClaudeUsage {
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
}

export interface ClaudeModelUsage extends ClaudeUsage {
  costUsd: number | undefined;
}

export interface ClaudeToolUse {
  id: string;
  name: string;
  input: unknown;
}

export type ClaudeEvent =
  | { type: 'init'; sessionId: string; model: string; cwd?: string; permissionMode?: string; tools: string[] }
  /** One assistant message (Claude Code prints a message's blocks as they complete; usage is per message). */
  | { type: 'assistant'; sessionId?: string; messageId?: string; text: string; toolUses: ClaudeToolUse[]; usage?: ClaudeUsage }
  /** The CLI's tool results, sent back to the model. */
  | { type: 'toolResults'; results: { toolUseId: string; isError: boolean; text: string }[] }
  | { type: 'apiRetry'; attempt?: number; maxRetries?: number; retryDelayMs?: number; errorStatus?: number | null }
  | { type: 'permissionDenied'; toolName?: string }
  | {
      type: 'result';
      /** `success`, `error_max_turns`, `error_during_execution`, `error_max_budget_usd`, … */
      subtype: string;
      isError: boolean;
      numTurns?: number;
      totalCostUsd?: number;
      usage?: ClaudeUsage;
      modelUsage: Record<string, ClaudeModelUsage>;
      sessionId?: string;
      /** The final text (success), or undefined. */
      result?: string;
      /** Why an error result ended the run (e.g. "Reached maximum budget ($5)"). */
      errors: string[];
      permissionDenials: number;
    }
  /** A line of a type this parser does not model (kept so a caller can count activity). */
  | { type: 'other'; eventType: string; subtype?: string };

export type ClaudeStreamEvent = ClaudeEvent | ParseError;

function usageOf(value: unknown): ClaudeUsage | undefined {
  const usage = obj(value);
  if (!usage) return undefined;
  return {
    inputTokens: num(usage.input_tokens) ?? 0,
    outputTokens: num(usage.output_tokens) ?? 0,
    cacheCreationInputTokens: num(usage.cache_creation_input_tokens) ?? 0,
    cacheReadInputTokens: num(usage.cache_read_input_tokens) ?? 0,
  };
}

function modelUsageOf(value: unknown): Record<string, ClaudeModelUsage> {
  const out: Record<string, ClaudeModelUsage> = {};
  for (const [model, raw] of Object.entries(obj(value) ?? {})) {
    const entry = obj(raw);
    if (!entry) continue;
    out[model] = {
      inputTokens: num(entry.inputTokens) ?? 0,
      outputTokens: num(entry.outputTokens) ?? 0,
      cacheCreationInputTokens: num(entry.cacheCreationInputTokens) ?? 0,
      cacheReadInputTokens: num(entry.cacheReadInputTokens) ?? 0,
      costUsd: num(entry.costUSD),
    };
  }
  return out;
}

/** A tool result's text: a string, or its text blocks joined. */
function resultText(content: unknown): string {
  if (typeof content === 'string') return content;
  return arr(content)
    .map(obj)
    .filter((block) => block?.type === 'text')
    .map((block) => str(block?.text) ?? '')
    .join('\n');
}

/** One stream-json object as an event (undefined: nothing to report). */
export function claudeEvent(line: Record<string, unknown>): ClaudeEvent | undefined {
  const type = str(line.type) ?? '';
  const subtype = str(line.subtype);
  if (type === 'system' && subtype === 'init') {
    return {
      type: 'init',
      sessionId: str(line.session_id) ?? '',
      model: str(line.model) ?? '',
      cwd: str(line.cwd),
      permissionMode: str(line.permissionMode),
      tools: arr(line.tools).filter((tool): tool is string => typeof tool === 'string'),
    };
  }
  if (type === 'system' && subtype === 'api_retry') {
    const status = line.error_status;
    return {
      type: 'apiRetry',
      attempt: num(line.attempt),
      maxRetries: num(line.max_retries),
      retryDelayMs: num(line.retry_delay_ms),
      errorStatus: status === null ? null : num(status),
    };
  }
  if (type === 'system' && subtype === 'permission_denied') return { type: 'permissionDenied', toolName: str(line.tool_name) };
  if (type === 'assistant') {
    const message = obj(line.message) ?? {};
    const blocks = arr(message.content).map(obj).filter((block) => block !== undefined);
    return {
      type: 'assistant',
      sessionId: str(line.session_id),
      messageId: str(message.id),
      text: blocks
        .filter((block) => block.type === 'text')
        .map((block) => str(block.text) ?? '')
        .join(''),
      toolUses: blocks
        .filter((block) => block.type === 'tool_use')
        .map((block) => ({ id: str(block.id) ?? '', name: str(block.name) ?? '', input: block.input })),
      usage: usageOf(message.usage),
    };
  }
  if (type === 'user') {
    const message = obj(line.message) ?? {};
    const results = arr(message.content)
      .map(obj)
      .filter((block) => block?.type === 'tool_result')
      .map((block) => ({ toolUseId: str(block?.tool_use_id) ?? '', isError: bool(block?.is_error) ?? false, text: resultText(block?.content) }));
    return results.length ? { type: 'toolResults', results } : { type: 'other', eventType: type };
  }
  if (type === 'result') {
    return {
      type: 'result',
      subtype: subtype ?? '',
      isError: bool(line.is_error) ?? subtype !== 'success',
      numTurns: num(line.num_turns),
      totalCostUsd: num(line.total_cost_usd),
      usage: usageOf(line.usage),
      modelUsage: modelUsageOf(line.modelUsage),
      sessionId: str(line.session_id),
      result: str(line.result),
      errors: arr(line.errors).filter((error): error is string => typeof error === 'string'),
      permissionDenials: arr(line.permission_denials).length,
    };
  }
  return { type: 'other', eventType: type, ...(subtype ? { subtype } : {}) };
}

/**
 * The run's whole usage from a result: the sum of `modelUsage` (every model, every turn). Prefer it
 * to the result's `usage`, which in 2.1.328 leaves out the last turn of an `error_max_budget_usd`
 * run (two turns served, `usage` shows one, `modelUsage` and `total_cost_usd` both).
 */
export function resultTotals(result: Extract<ClaudeEvent, { type: 'result' }>): ClaudeUsage & { costUsd: number | undefined } {
  const models = Object.values(result.modelUsage);
  if (models.length === 0) return { ...(result.usage ?? { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 }), costUsd: result.totalCostUsd };
  const sum = (pick: (usage: ClaudeModelUsage) => number) => models.reduce((total, usage) => total + pick(usage), 0);
  return {
    inputTokens: sum((usage) => usage.inputTokens),
    outputTokens: sum((usage) => usage.outputTokens),
    cacheCreationInputTokens: sum((usage) => usage.cacheCreationInputTokens),
    cacheReadInputTokens: sum((usage) => usage.cacheReadInputTokens),
    costUsd: result.totalCostUsd ?? (models.every((usage) => usage.costUsd !== undefined) ? sum((usage) => usage.costUsd ?? 0) : undefined),
  };
}

/** Line-by-line parser: `push` raw stdout chunks, `end` at EOF; a line over the cap is a `parseError`. */
export class ClaudeStreamParser extends StreamParser<ClaudeEvent> {
  constructor(options: { maxLineLength?: number } = {}) {
    super(claudeEvent, options.maxLineLength);
  }
}

/** Every event of a whole captured output (tests, fixtures). */
export function parseClaudeStream(text: string, options: { maxLineLength?: number } = {}): ClaudeStreamEvent[] {
  const parser = new ClaudeStreamParser(options);
  return [...parser.push(text), ...parser.end()];
}
