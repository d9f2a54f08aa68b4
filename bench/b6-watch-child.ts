// B6's watcher process: runs one bench agent (bench/agents/stream-json.mjs) through orch's own agent
// path — startAgent (agent-guard, output straight into a file) and watchAgent with the claude-code
// adapter's monitor, writing the readable transcript — in a fresh process of its own, so that its
// memory peaks belong to this one run. Prints one JSON object (WatchChildResult) on stdout.
//
//   node --import tsx bench/b6-watch-child.ts <dir> <agent args…>
//
// The monitor is wrapped, not replaced: every chunk still goes through the real parser; the wrapper
// only times each call, reads the transcript lines it returns (each tool_use names its `seq` and
// the ms it was written at) and samples memory right after it, when a tick's chunks are still held.
import { readFileSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent } from '../activities/adapters/agent-process.js';
import { adapterFor, type AgentMonitor } from '../activities/adapters/agents/index.js';
import { watchAgent } from '../activities/host/agent-watch.js';

// Not from ./stack.js: that would load the Temporal worker SDK into the process being measured.
export const STREAM_AGENT_PATH = fileURLToPath(new URL('./agents/stream-json.mjs', import.meta.url));
const nowMs = () => performance.timeOrigin + performance.now();

export interface MemoryPeaks {
  heapUsed: number;
  /** Memory outside V8's heap that V8 tracks (Buffers among it). */
  external: number;
  rss: number;
}

export interface WatchChildResult {
  /** What the agent says it wrote (its --stats file). */
  agent: { startedAt: number; endedAt: number; lines: number; bytes: number; writes: number; toolTurns: number; toolErrors: number; maxBehindMs: number };
  startedAt: number;
  /** When run.done settled (the guard exited) and when watchAgent returned. */
  exitedAt: number;
  watchedAt: number;
  exitCode: number | null;
  /** Through the monitor: chunks, bytes, lines handed to it; the time spent in it. */
  chunks: number;
  bytes: number;
  newlines: number;
  consumeMs: number;
  maxConsumeMs: number;
  /** Distinct tool_use events seen (by seq), duplicates, the last seq + 1 expected. */
  toolUses: number;
  duplicates: number;
  toolErrors: number;
  /** ms from each tool_use's write to the end of the consume() that returned it. */
  lags: number[];
  firstToolAt: number;
  lastToolAt: number;
  /** Lengths of the lines the parser dropped as too long. */
  tooLong: number[];
  /** Transcript lines that are neither tool uses, tool errors, dropped lines, the session nor the result. */
  otherLines: string[];
  sessionLine: string | undefined;
  resultLine: string | undefined;
  report: ReturnType<AgentMonitor['report']>;
  transcriptBytes: number;
  outputBytes: number;
  /** The watcher process: before the agent started, and its peaks while watching. */
  idle: MemoryPeaks;
  peak: MemoryPeaks;
  /** The kernel's RSS high-water mark for this process (VmHWM). */
  vmHwm: number;
  cpuMs: number;
}

const TOOL_LINE = /^→ Bash echo seq=(\d+) t=([\d.]+)/;
const DROPPED_LINE = /^\(a (\d+)-character line was not kept\)$/;

function vmHwm(): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

async function main(): Promise<void> {
  const [dir, ...agentArgs] = process.argv.slice(2);
  if (!dir) throw new Error('usage: b6-watch-child.ts <dir> <stream-json.mjs args…>');
  const cwd = path.join(dir, 'cwd');
  await mkdir(cwd, { recursive: true });
  const output = path.join(dir, 'stream.jsonl');
  const transcript = path.join(dir, 'transcript.log');
  const statsFile = path.join(dir, 'agent-stats.json');

  const mem = (): MemoryPeaks => {
    const m = process.memoryUsage();
    return { heapUsed: m.heapUsed, external: m.external, rss: m.rss };
  };
  const idle = mem();
  const peak = { ...idle };
  const sample = () => {
    const m = mem();
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    peak.external = Math.max(peak.external, m.external);
    peak.rss = Math.max(peak.rss, m.rss);
  };
  const sampler = setInterval(sample, 20);

  const inner = adapterFor('claude-code').monitor({ home: dir, prices: {}, startedAt: new Date() });
  const r = {
    chunks: 0,
    bytes: 0,
    newlines: 0,
    consumeMs: 0,
    maxConsumeMs: 0,
    toolUses: 0,
    duplicates: 0,
    toolErrors: 0,
    lags: [] as number[],
    firstToolAt: Number.NaN,
    lastToolAt: Number.NaN,
    tooLong: [] as number[],
    otherLines: [] as string[],
    sessionLine: undefined as string | undefined,
    resultLine: undefined as string | undefined,
  };
  const seen = new Set<number>();
  const look = (lines: string[], at: number) => {
    for (const line of lines) {
      const tool = TOOL_LINE.exec(line);
      if (tool) {
        const seq = Number(tool[1]);
        if (seen.has(seq)) r.duplicates++;
        else seen.add(seq);
        r.toolUses++;
        r.lags.push(at - Number(tool[2]));
        if (!(r.firstToolAt <= at)) r.firstToolAt = at;
        r.lastToolAt = at;
        continue;
      }
      const dropped = DROPPED_LINE.exec(line);
      if (dropped) r.tooLong.push(Number(dropped[1]));
      else if (line === '← tool error') r.toolErrors++;
      else if (line.startsWith('session ')) r.sessionLine = line;
      else if (line.startsWith('result: ')) r.resultLine = line;
      else if (r.otherLines.length < 20) r.otherLines.push(line.slice(0, 200));
    }
  };
  const timed = (fn: () => string[]) => {
    const t = performance.now();
    const lines = fn();
    const ms = performance.now() - t;
    r.consumeMs += ms;
    r.maxConsumeMs = Math.max(r.maxConsumeMs, ms);
    sample();
    look(lines, nowMs());
    return lines;
  };
  const monitor: AgentMonitor = {
    consume(chunk) {
      r.chunks++;
      r.bytes += chunk.length;
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) r.newlines++;
      return timed(() => inner.consume(chunk));
    },
    end: () => timed(() => inner.end()),
    progress: () => inner.progress(),
    report: () => inner.report(),
  };

  const cpu0 = process.cpuUsage();
  const startedAt = nowMs();
  const run = startAgent({
    command: process.execPath,
    args: [STREAM_AGENT_PATH, ...agentArgs, '--stats', statsFile],
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: dir },
    logFile: output,
  });
  let exitedAt = Number.NaN;
  void run.done.then(() => (exitedAt = nowMs()));
  const watched = await watchAgent({ run, output, transcript, monitor, idleMs: 120_000, killGraceMs: 3000 });
  const watchedAt = nowMs();
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  sample();

  const result: WatchChildResult = {
    agent: JSON.parse(await readFile(statsFile, 'utf8')) as WatchChildResult['agent'],
    startedAt,
    exitedAt,
    watchedAt,
    exitCode: watched.outcome.exitCode,
    ...r,
    report: monitor.report(),
    transcriptBytes: (await stat(transcript)).size,
    outputBytes: (await stat(output)).size,
    idle,
    peak,
    vmHwm: vmHwm(),
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
