// watchAgent over a real agent process (under agent-guard) printing Claude Code stream-json: every
// event of a fast burst arrives exactly once, and a line far past the parser's cap is read in bounded
// chunks, dropped, and does not hide the result after it. (How fast and how much memory: bench B6.)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgent } from '../../activities/adapters/agent-process.js';
import { DEFAULT_CHUNK_BYTES, FileFollower } from '../../activities/adapters/agents/follow.js';
import { adapterFor, type AgentMonitor } from '../../activities/adapters/agents/index.js';
import { DEFAULT_MAX_LINE_LENGTH } from '../../activities/adapters/agents/lines.js';
import { watchAgent } from '../../activities/host/agent-watch.js';
import { usageText } from '../../workflows/contracts/index.js';
import { Scratch } from './agent-fixtures.js';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

/**
 * An agent (plain node, one write per line) printing init, `turns` × (assistant tool_use, user
 * tool_result, every 10th an error), then, if `bigLine` is set, a tool result of that many
 * characters, and a result with the totals.
 */
const STREAM_AGENT = `
const { writeSync } = require('node:fs');
const [turns, bigLine] = process.argv.slice(1).map(Number);
const out = (o) => { const b = Buffer.from(JSON.stringify(o) + '\\n'); for (let at = 0; at < b.length; ) at += writeSync(1, b, at); };
out({ type: 'system', subtype: 'init', session_id: 'sess-1', model: 'claude-test', permissionMode: 'acceptEdits', tools: ['Bash'] });
const usage = { input_tokens: 100, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 };
for (let i = 0; i < turns; i++) {
  out({ type: 'assistant', message: { id: 'msg_' + i, role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_' + i, name: 'Bash', input: { command: 'echo seq=' + i } }], usage } });
  out({ type: 'user', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_' + i, content: 'ok', is_error: i % 10 === 9 }] } });
}
if (bigLine) out({ type: 'user', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_big', content: 'x'.repeat(bigLine), is_error: false }] } });
const n = Math.max(turns, 1);
out({ type: 'result', subtype: 'success', is_error: false, num_turns: n, total_cost_usd: n * 0.001, session_id: 'sess-1', result: 'Done.',
  usage: { input_tokens: n * 100, output_tokens: n * 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  modelUsage: { 'claude-test': { inputTokens: n * 100, outputTokens: n * 20, cacheReadInputTokens: 0, cacheCreationInputTokens: 0, costUSD: n * 0.001 } } });
`;

/** The claude-code monitor, recording the size of every chunk handed to it. */
function recording(inner: AgentMonitor): AgentMonitor & { chunkSizes: number[] } {
  const chunkSizes: number[] = [];
  return {
    chunkSizes,
    consume: (chunk) => (chunkSizes.push(chunk.length), inner.consume(chunk)),
    end: () => inner.end(),
    progress: () => inner.progress(),
    report: () => inner.report(),
  };
}

async function watchStream(turns: number, bigLine = 0) {
  const dir = scratch.dir();
  const cwd = join(dir, 'cwd');
  mkdirSync(cwd);
  const output = join(dir, 'stream.jsonl');
  const transcript = join(dir, 'transcript.log');
  const monitor = recording(adapterFor('claude-code').monitor({ home: dir, prices: {}, startedAt: new Date() }));
  const run = scratch.track(
    startAgent({ command: process.execPath, args: ['-e', STREAM_AGENT, String(turns), String(bigLine)], cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir }, logFile: output }),
  );
  const watched = await watchAgent({ run, output, transcript, monitor, idleMs: 60_000, killGraceMs: 1000 });
  // Drop the clock (HH:MM:SS) in front of each transcript line.
  const lines = readFileSync(transcript, 'utf8').trimEnd().split('\n').map((line) => line.slice(9));
  return { watched, lines, monitor, output };
}

describe('watchAgent', () => {
  it('reads every event of a fast burst exactly once, in order, and the result after it', async () => {
    const turns = 3000;
    const { watched, lines, monitor } = await watchStream(turns);
    expect(watched.outcome.exitCode).toBe(0);
    expect(watched.stopped).toBeUndefined();
    const seqs = lines.filter((line) => line.startsWith('→ Bash')).map((line) => Number(/seq=(\d+)/.exec(line)?.[1]));
    expect(seqs).toEqual(Array.from({ length: turns }, (_, i) => i));
    expect(lines.filter((line) => line === '← tool error')).toHaveLength(turns / 10);
    const usage = { costUsd: turns * 0.001, inputTokens: turns * 100, outputTokens: turns * 20, cacheReadTokens: 0, cacheWriteTokens: 0, turns };
    expect(lines.filter((line) => line.startsWith('result: '))).toEqual([`result: success · ${usageText(usage)}`]);
    expect(monitor.report()).toEqual({ usage, sessionId: 'sess-1', model: 'claude-test' });
  });

  it('reads a line far over the cap in bounded chunks, drops it, and still reads the result after it', async () => {
    const bigLine = 3 * DEFAULT_MAX_LINE_LENGTH;
    const { watched, lines, monitor, output } = await watchStream(0, bigLine);
    expect(watched.outcome.exitCode).toBe(0);
    const dropped = lines.filter((line) => /^\(a \d+-character line was not kept\)$/.test(line));
    expect(dropped).toHaveLength(1);
    expect(Number(/\d+/.exec(dropped[0]!)?.[0])).toBeGreaterThan(bigLine);
    expect(monitor.report().usage).toMatchObject({ inputTokens: 100, outputTokens: 20, turns: 1, costUsd: 0.001 });
    // The whole output went through the monitor, never more than one chunk at a time.
    expect(monitor.chunkSizes.reduce((a, b) => a + b, 0)).toBe(readFileSync(output).length);
    expect(Math.max(...monitor.chunkSizes)).toBeLessThanOrEqual(DEFAULT_CHUNK_BYTES);
  });
});

describe('FileFollower', () => {
  it('reads a backlog one chunk at a time, only as the caller asks, then resumes where it stopped', async () => {
    const file = join(scratch.dir(), 'out');
    writeFileSync(file, 'a'.repeat(10_000));
    const follower = new FileFollower(file, { chunkBytes: 4096 });
    const chunks = follower.chunks();
    expect((await chunks.next()).value).toHaveLength(4096);
    expect(follower.offset).toBe(4096);
    const rest: number[] = [];
    for await (const chunk of chunks) rest.push(chunk.length);
    expect(rest).toEqual([4096, 10_000 - 8192]);
    writeFileSync(file, 'b'.repeat(5), { flag: 'a' });
    const more: string[] = [];
    for await (const chunk of follower.chunks()) more.push(chunk.toString());
    expect(more).toEqual(['bbbbb']);
    await follower.close();
  });

  it('yields nothing for a file that does not exist yet', async () => {
    const follower = new FileFollower(join(scratch.dir(), 'missing'));
    const got: Buffer[] = [];
    for await (const chunk of follower.chunks()) got.push(chunk);
    expect(got).toEqual([]);
  });
});
