// Codex's `codex exec --json` output (JSONL), as a small typed event union. Checked against
// @openai/codex 0.169.0 (test/fixtures/agents/codex-*.jsonl are real captured lines). Pure and
// dependency-free. Codex reports tokens only, never money.
import { arr, num, obj, type ParseError, str, StreamParser } from './lines.js';

export type { ParseError } from './lines.js';

/** `turn.completed.usage` (cached input counted apart, as Codex reports it). */
export interface CodexUsage {
  inputTokens: number;
  cachedInputTokens: number;
  cacheWriteInputTokens: number;
  outputTokens: number;
  reasoningOutputTokens: number;
}

export type CodexItem =
  | { kind: 'command_execution'; id: string; command: string; aggregatedOutput: string; exitCode: number | null; status?: string }
  | { kind: 'file_change'; id: string; changes: { path: string; kind: string }[]; status?: string }
  | { kind: 'agent_message'; id: string; text: string }
  /** A non-fatal error item (Codex uses these for warnings, e.g. unknown model metadata). */
  | { kind: 'error'; id: string; message: string }
  | { kind: 'other'; id: string; itemType: string };

export type CodexEvent =
  | { type: 'threadStarted'; threadId: string }
  | { type: 'turnStarted' }
  | { type: 'item'; phase: 'started' | 'updated' | 'completed'; item: CodexItem }
  | { type: 'turnCompleted'; usage: CodexUsage }
  | { type: 'turnFailed'; message: string }
  /** A top-level `error` event: the stream itself failed (e.g. the model API kept failing). */
  | { type: 'error'; message: string }
  | { type: 'other'; eventType: string };

export type CodexStreamEvent = CodexEvent | ParseError;

function itemOf(value: unknown): CodexItem {
  const item = obj(value) ?? {};
  const id = str(item.id) ?? '';
  const itemType = str(item.type) ?? '';
  switch (itemType) {
    case 'command_execution': {
      const exitCode = num(item.exit_code);
      return {
        kind: 'command_execution',
        id,
        command: str(item.command) ?? '',
        aggregatedOutput: str(item.aggregated_output) ?? '',
        exitCode: exitCode ?? null,
        status: str(item.status),
      };
    }
    case 'file_change':
      return {
        kind: 'file_change',
        id,
        changes: arr(item.changes)
          .map(obj)
          .filter((change) => change !== undefined)
          .map((change) => ({ path: str(change.path) ?? '', kind: str(change.kind) ?? '' })),
        status: str(item.status),
      };
    case 'agent_message':
      return { kind: 'agent_message', id, text: str(item.text) ?? '' };
    case 'error':
      return { kind: 'error', id, message: str(item.message) ?? '' };
    default:
      return { kind: 'other', id, itemType };
  }
}

/** The message of `turn.failed` (`{error:{message}}`) or `error` (`{message}`). */
const messageOf = (line: Record<string, unknown>): string => str(obj(line.error)?.message) ?? str(line.message) ?? str(line.error) ?? '';

export function codexEvent(line: Record<string, unknown>): CodexEvent | undefined {
  const type = str(line.type) ?? '';
  switch (type) {
    case 'thread.started':
      return { type: 'threadStarted', threadId: str(line.thread_id) ?? '' };
    case 'turn.started':
      return { type: 'turnStarted' };
    case 'item.started':
    case 'item.updated':
    case 'item.completed':
      return { type: 'item', phase: type.slice('item.'.length) as 'started' | 'updated' | 'completed', item: itemOf(line.item) };
    case 'turn.completed': {
      const usage = obj(line.usage) ?? {};
      return {
        type: 'turnCompleted',
        usage: {
          inputTokens: num(usage.input_tokens) ?? 0,
          cachedInputTokens: num(usage.cached_input_tokens) ?? 0,
          cacheWriteInputTokens: num(usage.cache_write_input_tokens) ?? 0,
          outputTokens: num(usage.output_tokens) ?? 0,
          reasoningOutputTokens: num(usage.reasoning_output_tokens) ?? 0,
        },
      };
    }
    case 'turn.failed':
      return { type: 'turnFailed', message: messageOf(line) };
    case 'error':
      return { type: 'error', message: messageOf(line) };
    default:
      return { type: 'other', eventType: type };
  }
}

export class CodexStreamParser extends StreamParser<CodexEvent> {
  constructor(options: { maxLineLength?: number } = {}) {
    super(codexEvent, options.maxLineLength);
  }
}

export function parseCodexStream(text: string, options: { maxLineLength?: number } = {}): CodexStreamEvent[] {
  const parser = new CodexStreamParser(options);
  return [...parser.push(text), ...parser.end()];
}
