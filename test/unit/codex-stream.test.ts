// The Codex `exec --json` parser on real lines captured from @openai/codex 0.169.0
// (test/agents/codex.test.ts with ORCH_CAPTURE_FIXTURES=1).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CodexStreamParser, parseCodexStream, type CodexStreamEvent } from '../../activities/adapters/agents/codex-stream.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/agents/${name}`, import.meta.url), 'utf8');

describe('codex-stream parser', () => {
  it('reads a successful run: thread, turn, command executions, message, usage', () => {
    const events = parseCodexStream(fixture('codex-success.jsonl'));
    expect(events.map((event) => (event.type === 'item' ? `${event.phase}:${event.item.kind}` : event.type))).toEqual([
      'threadStarted',
      'completed:error',
      'turnStarted',
      'started:command_execution',
      'completed:command_execution',
      'started:command_execution',
      'completed:command_execution',
      'completed:agent_message',
      'turnCompleted',
    ]);
    expect(events[0]).toMatchObject({ type: 'threadStarted', threadId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(events[1]).toMatchObject({ item: { kind: 'error', message: expect.stringContaining('Model metadata for `gpt-test` not found') } });
    expect(events[3]).toMatchObject({ item: { kind: 'command_execution', exitCode: null, status: 'in_progress' } });
    expect(events[6]).toMatchObject({
      item: { kind: 'command_execution', command: expect.stringContaining('git rev-parse --abbrev-ref HEAD > branch.txt'), exitCode: 0, status: 'completed' },
    });
    expect(events[7]).toMatchObject({ item: { kind: 'agent_message', text: 'All done.' } });
    expect(events[8]).toEqual({
      type: 'turnCompleted',
      usage: { inputTokens: 360, cachedInputTokens: 0, cacheWriteInputTokens: 0, outputTokens: 90, reasoningOutputTokens: 0 },
    });
  });

  it('reads a failed turn: the error event and turn.failed, both with the API message', () => {
    const events = parseCodexStream(fixture('codex-failed.jsonl'));
    expect(events.slice(-2).map((event) => event.type)).toEqual(['error', 'turnFailed']);
    for (const event of events.slice(-2)) expect(event).toMatchObject({ message: expect.stringContaining('scripted failure (@model fail)') });
  });

  it('a stalled run ends at turn.started', () => {
    expect(parseCodexStream(fixture('codex-hang.jsonl')).map((event) => event.type)).toEqual(['threadStarted', 'item', 'turnStarted']);
  });

  it('models file_change items and keeps unknown item and event types', () => {
    const events = parseCodexStream(
      [
        '{"type":"item.completed","item":{"id":"item_3","type":"file_change","changes":[{"path":"/w/a.md","kind":"add"},{"path":"/w/b.md","kind":"update"}],"status":"completed"}}',
        '{"type":"item.updated","item":{"id":"item_4","type":"todo_list","items":[]}}',
        '{"type":"future.event"}',
      ].join('\n'),
    );
    expect(events).toEqual([
      { type: 'item', phase: 'completed', item: { kind: 'file_change', id: 'item_3', changes: [{ path: '/w/a.md', kind: 'add' }, { path: '/w/b.md', kind: 'update' }], status: 'completed' } },
      { type: 'item', phase: 'updated', item: { kind: 'other', id: 'item_4', itemType: 'todo_list' } },
      { type: 'other', eventType: 'future.event' },
    ]);
  });

  it('chunked input gives the same events; a line over the cap is one parseError', () => {
    const text = fixture('codex-success.jsonl');
    const parser = new CodexStreamParser();
    const events: CodexStreamEvent[] = [];
    for (let at = 0; at < text.length; at += 3) events.push(...parser.push(text.slice(at, at + 3)));
    events.push(...parser.end());
    expect(events).toEqual(parseCodexStream(text));

    const capped = new CodexStreamParser({ maxLineLength: 100 });
    const long = `{"type":"item.completed","item":{"id":"x","type":"agent_message","text":"${'y'.repeat(500)}"}}`;
    expect([...capped.push(`${long}\n{"type":"turn.started"}\n`), ...capped.end()]).toEqual([
      { type: 'parseError', reason: 'line-too-long', length: long.length, excerpt: '' },
      { type: 'turnStarted' },
    ]);
    const unterminated = new CodexStreamParser({ maxLineLength: 100 });
    expect([...unterminated.push(long), ...unterminated.end()]).toEqual([{ type: 'parseError', reason: 'line-too-long', length: long.length, excerpt: '' }]);
  });
});
