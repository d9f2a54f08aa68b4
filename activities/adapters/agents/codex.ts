// Codex (`codex exec --json`), unattended, with the prompt on stdin (`-`, closed after it).
//
// `exec --json` reports tokens only at the end of a turn, and one exec is one turn of many model
// calls, so a runaway turn would be seen only when it ends. Codex also records every model call's
// token count in its session file (CODEX_HOME/sessions/…/rollout-…-<thread id>.jsonl,
// `event_msg`/`token_count`): orch follows that file too, for live usage and the budget.
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { addUsage, usageText, type AgentProgress, type PriceTable, type Usage } from '../../../workflows/contracts/index.js';
import { clip, type AgentAdapter, type AgentMonitor, type AgentReport } from './adapter.js';
import { CodexStreamParser, type CodexStreamEvent, type CodexUsage } from './codex-stream.js';
import { FileFollower } from './follow.js';
import { LineSplitter, num, obj, str } from './lines.js';
import { costOf } from './pricing.js';

export const codexHome = (home: string): string => path.join(home, '.codex');

export const codexAdapter: AgentAdapter = {
  name: 'codex',
  events: true,
  async launch({ command, args, home, resumeSession, sandboxed }) {
    // Inside orch's sandbox Codex's own (bwrap again) is redundant and may not nest; outside, keep it.
    const sandbox = sandboxed ? ['--dangerously-bypass-approvals-and-sandbox'] : ['--sandbox', 'workspace-write'];
    const resume = resumeSession ? ['resume', resumeSession] : [];
    await mkdir(codexHome(home), { recursive: true }); // Codex refuses a CODEX_HOME that does not exist
    return {
      command,
      args: ['exec', '--json', '--skip-git-repo-check', ...sandbox, ...args, ...resume, '-'],
      env: { CODEX_HOME: codexHome(home) },
    };
  },
  monitor: ({ home, prices }) => new CodexMonitor(codexHome(home), prices),
};

/** A usage in orch's shape from Codex's: its input count includes the cached part, orch's does not. */
function fromCodex(u: CodexUsage): Omit<Usage, 'costUsd' | 'turns'> {
  return {
    inputTokens: Math.max(0, u.inputTokens - u.cachedInputTokens),
    outputTokens: u.outputTokens,
    cacheReadTokens: u.cachedInputTokens,
    cacheWriteTokens: u.cacheWriteInputTokens,
  };
}

class CodexMonitor implements AgentMonitor {
  readonly #parser = new CodexStreamParser();
  readonly #codexHome: string;
  readonly #prices: PriceTable;
  /** Session files that existed before the run, with their sizes: a resumed session appends to its file. */
  #before: Promise<Map<string, number>>;
  #threadId: string | undefined;
  #model: string | undefined;
  #session: { follower: FileFollower; lines: LineSplitter } | undefined;
  /** Per model call, from the session file. */
  readonly #calls: Omit<Usage, 'costUsd' | 'turns'>[] = [];
  /** From `turn.completed`: what exec itself reports (authoritative once there). */
  readonly #turns: Omit<Usage, 'costUsd' | 'turns'>[] = [];
  #lastTool: string | undefined;
  #failure: AgentReport['failure'];

  constructor(codexHomeDir: string, prices: PriceTable) {
    this.#codexHome = codexHomeDir;
    this.#prices = prices;
    this.#before = sessionFiles(path.join(codexHomeDir, 'sessions'));
  }

  consume(chunk: Buffer): string[] {
    return this.#parser.push(chunk).flatMap((event) => this.#line(event));
  }

  end(): string[] {
    return this.#parser.end().flatMap((event) => this.#line(event));
  }

  async poll(): Promise<string[]> {
    if (!this.#threadId) return [];
    if (!this.#session) {
      const files = await sessionFiles(path.join(this.#codexHome, 'sessions'));
      const file = [...files.keys()].find((f) => f.endsWith(`${this.#threadId}.jsonl`));
      if (!file) return [];
      const from = (await this.#before).get(file) ?? 0;
      this.#session = { follower: new FileFollower(file, { from }), lines: new LineSplitter() };
    }
    for await (const chunk of this.#session.follower.chunks()) {
      for (const split of this.#session.lines.push(chunk)) if ('line' in split) this.#sessionLine(split.line);
    }
    return [];
  }

  progress(): AgentProgress {
    const usage = this.#usage();
    return { turns: usage.turns, usage, ...(this.#lastTool && { lastTool: this.#lastTool }), ...(this.#threadId && { sessionId: this.#threadId }), ...(this.#model && { model: this.#model }) };
  }

  report(): AgentReport {
    void this.#session?.follower.close();
    const seen = this.#turns.length > 0 || this.#calls.length > 0;
    return {
      ...(seen && { usage: this.#usage() }),
      ...(this.#failure && { failure: this.#failure }),
      ...(this.#threadId && { sessionId: this.#threadId }),
      ...(this.#model && { model: this.#model }),
    };
  }

  #usage(): Usage {
    // turn.completed when exec reported it; the session file's per-call counts while a turn runs.
    const parts = this.#turns.length ? this.#turns : this.#calls;
    const total = { ...addUsage(...parts.map((p) => ({ ...p, costUsd: 0, turns: 0 }))), turns: this.#calls.length || this.#turns.length };
    return { ...total, costUsd: costOf(this.#prices, this.#model, total) };
  }

  #sessionLine(line: string): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return;
    }
    const record = obj(value);
    const payload = obj(record?.payload);
    if (!record || !payload) return;
    if (record.type === 'turn_context') this.#model = str(payload.model) ?? this.#model;
    if (record.type === 'event_msg' && payload.type === 'thread_settings_applied') this.#model = str(obj(payload.thread_settings)?.model) ?? this.#model;
    if (record.type === 'event_msg' && payload.type === 'token_count') {
      const last = obj(obj(payload.info)?.last_token_usage);
      if (!last) return;
      this.#calls.push(fromCodex({
        inputTokens: num(last.input_tokens) ?? 0,
        cachedInputTokens: num(last.cached_input_tokens) ?? 0,
        cacheWriteInputTokens: num(last.cache_write_input_tokens) ?? 0,
        outputTokens: num(last.output_tokens) ?? 0,
        reasoningOutputTokens: num(last.reasoning_output_tokens) ?? 0,
      }));
    }
  }

  #line(event: CodexStreamEvent): string[] {
    switch (event.type) {
      case 'threadStarted':
        this.#threadId = event.threadId;
        return [`thread ${event.threadId}`];
      case 'turnStarted':
        return ['turn started'];
      case 'item': {
        const { item } = event;
        if (item.kind === 'command_execution') {
          this.#lastTool = 'command_execution';
          if (event.phase === 'started') return [`$ ${clip(item.command, 300)}`];
          if (event.phase === 'completed') return [`  exit ${item.exitCode ?? '?'}${item.aggregatedOutput.trim() ? `: ${clip(item.aggregatedOutput, 200)}` : ''}`];
          return [];
        }
        if (event.phase !== 'completed') return [];
        if (item.kind === 'file_change') {
          this.#lastTool = 'file_change';
          return [`edited ${item.changes.map((c) => `${c.path} (${c.kind})`).join(', ')}`];
        }
        if (item.kind === 'agent_message') return [`assistant: ${clip(item.text)}`];
        if (item.kind === 'error') return [`warning: ${clip(item.message, 300)}`];
        return [];
      }
      case 'turnCompleted': {
        this.#turns.push(fromCodex(event.usage));
        return [`turn completed · ${usageText(this.#usage())}`];
      }
      case 'turnFailed':
        this.#failure = { kind: 'agent-error', reason: `codex turn failed: ${clip(event.message, 500)}` };
        return [`turn failed: ${clip(event.message, 500)}`];
      case 'error':
        this.#failure ??= { kind: 'agent-error', reason: `codex error: ${clip(event.message, 500)}` };
        return [`error: ${clip(event.message, 500)}`];
      case 'parseError':
        return event.reason === 'line-too-long' ? [`(a ${event.length}-character line was not kept)`] : [event.excerpt];
      case 'other':
        return [];
    }
  }
}

/** Session files (`rollout-*.jsonl`) under `dir`, with their sizes. */
async function sessionFiles(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  for (const entry of entries) {
    if (!entry.endsWith('.jsonl') || !path.basename(entry).startsWith('rollout-')) continue;
    const file = path.join(dir, entry);
    const s = await stat(file).catch(() => null);
    if (s) out.set(file, s.size);
  }
  return out;
}
