// What every benchmark hands back to bench/run.ts for the summary table and docs/benchmarks.md.
import type { LoadReport } from './load.js';

export interface Target {
  /** P1 … P5 (or a correctness check such as P4-dup). */
  id: string;
  /** The target as written, e.g. `orch p99 ≤ 0.5 s`. */
  goal: string;
  /** What was measured against it. */
  measured: string;
  pass: boolean;
}

export interface BenchResult {
  id: string;
  title: string;
  /** Rows of the summary table: metric → value. */
  rows: [metric: string, value: string][];
  targets: Target[];
  /** Markdown: how it was measured. */
  method: string;
  /** Markdown: the numbers in detail, breakdowns, observations. */
  details: string;
  elapsedMs: number;
  /** Set when the benchmark could not finish. */
  error?: string;
  /** How busy the machine was meanwhile (filled in by bench/run.ts). */
  load?: LoadReport;
}

export interface BenchOptions {
  quick: boolean;
}
