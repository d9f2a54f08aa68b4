// The Claude Code stream-json parser on real lines captured from @anthropic-ai/claude-code 2.1.328
// (test/agents/claude-code.test.ts with ORCH_CAPTURE_FIXTURES=1), fed whole and in odd chunks.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClaudeStreamParser, parseClaudeStream, resultTotals, type ClaudeStreamEvent } from '../../activities/adapters/agents/claude-stream.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/agents/${name}`, import.meta.url), 'utf8');
const resultOf = (events: ClaudeStreamEvent[]) => {
  const result = events.find((event) => event.type === 'result');
  if (result?.type !== 'result') throw new Error('no result event');
  return result;
};

describe('claude-stream parser', () => {
  it('reads a successful run: init, tool uses, tool results, result with usage and cost', () => {
    const events = parseClaudeStream(fixture('claude-success.jsonl'));
    expect(events.map((event) => event.type)).toEqual(['init', 'assistant', 'toolResults', 'assistant', 'toolResults', 'assistant', 'result']);
    expect(events[0]).toMatchObject({ type: 'init', sessionId: expect.stringMatching(/^[0-9a-f-]{36}$/), model: 'claude-opus-5-5', permissionMode: 'acceptEdits' });
    expect(events[0]?.type === 'init' && events[0].tools).toContain('Bash');
    const assistants = events.filter((event) => event.type === 'assistant');
    expect(assistants.map((event) => event.toolUses.map((use) => use.name))).toEqual([['Write'], ['Bash'], []]);
    expect(assistants[0]?.toolUses[0]?.input).toMatchObject({ content: 'hello from claude' });
    expect(assistants[2]?.text).toBe('All done.');
    expect(assistants[0]?.usage).toEqual({ inputTokens: 120, outputTokens: 1, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 });
    const result = resultOf(events);
    expect(result).toMatchObject({ subtype: 'success', isError: false, numTurns: 3, totalCostUsd: 0.00324, result: 'All done.', errors: [], permissionDenials: 0 });
    expect(result.usage).toEqual({ inputTokens: 360, outputTokens: 90, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 });
    expect(result.modelUsage).toEqual({ 'claude-opus-5-5': { inputTokens: 360, outputTokens: 90, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, costUsd: 0.00324 } });
    expect(resultTotals(result)).toEqual({ inputTokens: 360, outputTokens: 90, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, costUsd: 0.00324 });
  });

  it('reads error results: max turns, and max budget (whose usage lags a turn behind modelUsage)', () => {
    expect(resultOf(parseClaudeStream(fixture('claude-max-turns.jsonl')))).toMatchObject({
      subtype: 'error_max_turns',
      isError: true,
      errors: ['Reached maximum number of turns (1)'],
    });
    const budget = resultOf(parseClaudeStream(fixture('claude-budget.jsonl')));
    expect(budget).toMatchObject({ subtype: 'error_max_budget_usd', isError: true, totalCostUsd: 5.6, errors: ['Reached maximum budget ($5)'] });
    expect(budget.usage?.inputTokens).toBe(400_000);
    expect(resultTotals(budget)).toMatchObject({ inputTokens: 800_000, outputTokens: 120_000, costUsd: 5.6 });
  });

  it('gives the same events however the output is chunked, bytes split mid-character included', () => {
    const text = fixture('claude-success.jsonl').replaceAll('All done.', 'All done. ✓ fertig — 完成');
    const whole = parseClaudeStream(text);
    for (const size of [1, 7, 4096]) {
      const bytes = Buffer.from(text, 'utf8');
      const parser = new ClaudeStreamParser();
      const events: ClaudeStreamEvent[] = [];
      for (let at = 0; at < bytes.length; at += size) events.push(...parser.push(bytes.subarray(at, at + size)));
      events.push(...parser.end());
      expect(events).toEqual(whole);
    }
    expect(resultOf(whole).result).toBe('All done. ✓ fertig — 完成');
  });

  it('models api_retry and permission_denied lines', () => {
    const events = parseClaudeStream(
      [
        '{"type":"system","subtype":"api_retry","attempt":2,"max_retries":10,"retry_delay_ms":1200,"error_status":529}',
        '{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":500,"error_status":null}',
        '{"type":"system","subtype":"permission_denied","tool_name":"Bash"}',
      ].join('\n'),
    );
    expect(events).toEqual([
      { type: 'apiRetry', attempt: 2, maxRetries: 10, retryDelayMs: 1200, errorStatus: 529 },
      { type: 'apiRetry', attempt: 1, maxRetries: 10, retryDelayMs: 500, errorStatus: null },
      { type: 'permissionDenied', toolName: 'Bash' },
    ]);
  });

  it('reports a line over the cap as one parseError without keeping it, and goes on', () => {
    const parser = new ClaudeStreamParser({ maxLineLength: 1024 });
    const huge = `{"type":"assistant","message":{"content":[{"type":"text","text":"${'x'.repeat(10 * 1024 * 1024)}"}]}}`;
    const events: ClaudeStreamEvent[] = [];
    for (let at = 0; at < huge.length; at += 65_536) events.push(...parser.push(huge.slice(at, at + 65_536)));
    events.push(...parser.push('\n{"type":"system","subtype":"init","session_id":"s","model":"m","tools":[]}\n'));
    expect(events).toEqual([
      { type: 'parseError', reason: 'line-too-long', length: huge.length, excerpt: '' },
      { type: 'init', sessionId: 's', model: 'm', cwd: undefined, permissionMode: undefined, tools: [] },
    ]);
  });

  it('reports non-JSON and non-event lines, skips blank ones, keeps unknown types as other', () => {
    const events = parseClaudeStream('not json\n\n[1,2]\r\n{"type":"stream_event","event":{}}\n{"type":"system","subtype":"hook_started"}');
    expect(events).toEqual([
      { type: 'parseError', reason: 'not-json', length: 8, excerpt: 'not json' },
      { type: 'parseError', reason: 'not-an-event', length: 5, excerpt: '[1,2]' },
      { type: 'other', eventType: 'stream_event' },
      { type: 'other', eventType: 'system', subtype: 'hook_started' },
    ]);
  });
});
