#!/usr/bin/env node
// Bench agent: prints Claude-Code-shaped `stream-json` (2.1.328's line shapes, as in
// test/fixtures/agents/claude-success.jsonl) as fast as a target rate allows, then exits 0.
//
//   node stream-json.mjs --rate 20000 --seconds 5 [--stats FILE]   a steady stream of events
//   node stream-json.mjs --big-line 10485760 [--stats FILE]        one tool result of that many characters
//
// Stream mode prints `rate × seconds` lines: system/init, then turns of an assistant message (one
// Bash tool_use, per-message usage) and a user tool_result (every 10th an error), a final assistant
// text and a result carrying the run's totals. Each tool_use's command is `echo seq=<n> t=<ms>`, the
// wall-clock ms (performance.timeOrigin + performance.now()) at which the line was written, so a
// reader can tell every event apart and how late it saw it. Lines are written in batches whenever
// the schedule says they are due (a late writer catches up at once, never drops a line).
// Big-line mode prints init, one turn whose tool_result holds `--big-line` characters on one line
// (a command that printed that much),
// a final text and the result.
// --stats FILE gets one JSON object at the end: what was written and when.
import { writeFileSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const now = () => performance.timeOrigin + performance.now();

function parseArgs(argv) {
  const o = { rate: 0, seconds: 0, bigLine: -1, stats: undefined };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    const num = (flag) => {
      const n = Number(v);
      if (v === undefined || !Number.isFinite(n) || n < 0) fail(`${flag} needs a non-negative number, got ${JSON.stringify(v)}`);
      i++;
      return n;
    };
    if (argv[i] === '--rate') o.rate = num('--rate');
    else if (argv[i] === '--seconds') o.seconds = num('--seconds');
    else if (argv[i] === '--big-line') o.bigLine = Math.floor(num('--big-line'));
    else if (argv[i] === '--stats') {
      if (!v) fail('--stats needs a file');
      o.stats = v;
      i++;
    } else fail(`unknown argument ${argv[i]}`);
  }
  if (o.bigLine < 0 && !(o.rate > 0 && o.seconds > 0)) fail('give --rate and --seconds, or --big-line');
  return o;
}

function fail(message) {
  process.stderr.write(`stream-json: ${message}\nusage: stream-json.mjs (--rate N --seconds S | --big-line CHARS) [--stats FILE]\n`);
  process.exit(2);
}

const o = parseArgs(process.argv.slice(2));
const SESSION = '5e55a7c1-0b6e-4c2d-a94a-cb00711e28bf';
const MODEL = 'claude-opus-5-5';
const CWD = process.cwd();
const USAGE = { input: 120, output: 30, costPerTurn: 0.00108 };
const hex = (n, width) => n.toString(16).padStart(width, '0');
const uuid = (n) => `00000000-0000-4000-8000-${hex(n, 12)}`;

const init = () =>
  JSON.stringify({
    type: 'system',
    subtype: 'init',
    cwd: CWD,
    session_id: SESSION,
    tools: ['Task', 'Bash', 'Edit', 'Read', 'Write', 'Glob', 'Grep', 'TodoWrite'],
    mcp_servers: [],
    model: MODEL,
    permissionMode: 'acceptEdits',
    apiKeySource: 'ANTHROPIC_API_KEY',
    claude_code_version: '2.1.328',
    output_style: 'default',
    uuid: uuid(0),
  });

const assistant = (turn, content) =>
  JSON.stringify({
    type: 'assistant',
    message: {
      id: `msg_${hex(turn, 32)}`,
      type: 'message',
      role: 'assistant',
      model: MODEL,
      content,
      stop_reason: null,
      stop_sequence: null,
      // message_start's snapshot, as Claude Code prints it: the final output count comes in the result.
      usage: { input_tokens: USAGE.input, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
      context_management: null,
    },
    parent_tool_use_id: null,
    session_id: SESSION,
    uuid: uuid(2 * turn + 1),
    timestamp: new Date().toISOString(),
    request_id: `req_${hex(turn, 32)}`,
  });

const toolUse = (turn, seq, t) =>
  assistant(turn, [{ type: 'tool_use', id: `toolu_${hex(turn, 24)}`, name: 'Bash', input: { command: `echo seq=${seq} t=${t.toFixed(1)}`, description: 'Run the requested command' } }]);

const toolResult = (turn, content, isError, stdout = content) =>
  JSON.stringify({
    type: 'user',
    message: { role: 'user', content: [{ tool_use_id: `toolu_${hex(turn, 24)}`, type: 'tool_result', content, is_error: isError }] },
    parent_tool_use_id: null,
    session_id: SESSION,
    uuid: uuid(2 * turn + 2),
    timestamp: new Date().toISOString(),
    tool_use_result: { stdout, stderr: '', interrupted: false, isImage: false, noOutputExpected: false },
  });

/** The result of a run of `turns` assistant messages (the scripted model's usage per turn). */
const result = (turns) => {
  const input = turns * USAGE.input;
  const output = turns * USAGE.output;
  const cost = Number((turns * USAGE.costPerTurn).toFixed(8));
  return JSON.stringify({
    type: 'result',
    subtype: 'success',
    is_error: false,
    duration_ms: Math.round(performance.now()),
    duration_api_ms: 0,
    num_turns: turns,
    result: 'All done.',
    stop_reason: 'end_turn',
    session_id: SESSION,
    total_cost_usd: cost,
    usage: { input_tokens: input, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: output, service_tier: 'standard' },
    modelUsage: { [MODEL]: { inputTokens: input, outputTokens: output, cacheReadInputTokens: 0, cacheCreationInputTokens: 0, webSearchRequests: 0, costUSD: cost, contextWindow: 1000000 } },
    permission_denials: [],
    uuid: uuid(2 * turns + 3),
  });
};

let bytes = 0;
let lines = 0;
let writes = 0;
/** One write(2) per batch: stdout is the run's output file, as the guard hands it down. */
const emit = (batch) => {
  const text = `${batch.join('\n')}\n`;
  const buffer = Buffer.from(text);
  for (let off = 0; off < buffer.length; ) off += writeSync(1, buffer, off);
  bytes += buffer.length;
  lines += batch.length;
  writes++;
};

const startedAt = now();
let toolTurns = 0;
let toolErrors = 0;
let maxBehindMs = 0;
if (o.bigLine >= 0) {
  toolTurns = 1;
  emit([init(), toolUse(0, 0, now())]);
  // The payload once (the model's copy); the line is then --big-line characters and a few hundred more.
  emit([toolResult(0, 'x'.repeat(o.bigLine), false, '')]);
  emit([assistant(1, [{ type: 'text', text: 'All done.' }]), result(2)]);
} else {
  // init + pairs × (tool_use, tool_result) + final text + result = total lines.
  const total = Math.max(4, Math.round(o.rate * o.seconds));
  const pairs = Math.floor((total - 3) / 2);
  const last = 1 + 2 * pairs + 2; // lines once everything is out
  const lineAt = (i) => {
    if (i === 0) return init();
    if (i <= 2 * pairs) {
      const turn = Math.floor((i - 1) / 2);
      if ((i - 1) % 2 === 0) return toolUse(turn, turn, now());
      const isError = turn % 10 === 9;
      if (isError) toolErrors++;
      return toolResult(turn, isError ? `seq ${turn}: exit 1` : `seq=${turn} t=${now().toFixed(1)}`, isError);
    }
    if (i === 2 * pairs + 1) return assistant(pairs, [{ type: 'text', text: 'All done.' }]);
    return result(pairs + 1);
  };
  toolTurns = pairs;
  let i = 0;
  while (i < last) {
    const elapsed = now() - startedAt;
    const due = Math.min(last, Math.floor((o.rate * elapsed) / 1000) + 1);
    if (due > i) {
      maxBehindMs = Math.max(maxBehindMs, elapsed - (i / o.rate) * 1000);
      const batch = [];
      for (; i < due; i++) batch.push(lineAt(i));
      emit(batch);
    } else await sleep(1);
  }
}
const endedAt = now();
if (o.stats) {
  writeFileSync(o.stats, `${JSON.stringify({ startedAt, endedAt, lines, bytes, writes, toolTurns, toolErrors, maxBehindMs, pid: process.pid })}\n`);
}
