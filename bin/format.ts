// How the CLI prints: local clock times, ages, durations, aligned tables, usage and progress.
import type { AgentProgress, Usage } from '../workflows/contracts/usage.js';
import { costText, progressText, tokenCount } from '../workflows/contracts/usage-text.js';

const pad2 = (n: number) => String(n).padStart(2, '0');

export const out = (line = '') => process.stdout.write(`${line}\n`);

export function clock(at: string | number | Date | null | undefined): string {
  const d = at ? new Date(at) : new Date();
  if (Number.isNaN(d.getTime())) return '--:--:--';
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad2(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${pad2(Math.floor((s % 3600) / 60))}m`;
}

export function ago(at: string | null | undefined, now = Date.now()): string {
  if (!at) return '—';
  return `${duration(now - new Date(at).getTime())} ago`;
}

/** Columns padded to their widest cell; empty cells print as —. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '—' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** An attempt's usage as table cells: cost (`unknown` without a price), tokens in/out, cache read/write; — when not reported. */
export function usageCells(u: Usage | null | undefined): [string | null, string | null, string | null] {
  if (!u) return [null, null, null];
  return [
    u.costUsd === null ? 'unknown' : costText(u.costUsd),
    `${tokenCount(u.inputTokens)}/${tokenCount(u.outputTokens)}`,
    u.cacheReadTokens || u.cacheWriteTokens ? `${tokenCount(u.cacheReadTokens)}/${tokenCount(u.cacheWriteTokens)}` : null,
  ];
}

/** The running agent: `development, attempt 2: turn 7, running Bash, $0.42`, and how long it has been quiet when that is long. */
export function progressLine(p: AgentProgress & { stage: string; attempt: number }, now = Date.now()): string {
  const quietMs = p.lastActivityAt ? now - new Date(p.lastActivityAt).getTime() : NaN;
  return `${progressText(p)}${quietMs >= QUIET_MS ? ` (quiet for ${duration(quietMs)})` : ''}`;
}
/** Below this, an agent's silence is just thinking; above it, worth showing (a stall is stopped at `timeouts.idle`). */
const QUIET_MS = 30_000;
