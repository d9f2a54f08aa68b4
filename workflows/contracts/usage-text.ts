// Usage and progress as text, the same in `orch status`, `orch watch`, Plane comments and the Web
// UI's details. An unknown cost reads "cost unknown", never $0.
import type { AgentProgress, Usage } from './usage.js';

/** `$0.42`, `$0.0031` below a cent, `cost unknown` for null. */
export function costText(costUsd: number | null): string {
  if (costUsd === null || !Number.isFinite(costUsd)) return 'cost unknown';
  if (costUsd === 0) return '$0.00';
  if (costUsd < 0.0001) return '<$0.0001';
  return `$${costUsd < 0.01 ? costUsd.toFixed(4) : costUsd.toFixed(2)}`;
}

/** `950`, `12.3k`, `480k`, `1.2M`. */
export function tokenCount(n: number): string {
  const short = (v: number, unit: string) => `${v >= 100 ? Math.round(v) : Number(v.toFixed(1))}${unit}`;
  if (n < 1000) return String(n);
  if (n < 999_500) return short(n / 1000, 'k');
  return short(n / 1_000_000, 'M');
}

/** `12.3k in / 2.1k out` plus the cached tokens, counted apart: ` (480k cache read, 12k cache write)`. */
export function tokensText(u: Usage): string {
  const cached = [
    u.cacheReadTokens ? `${tokenCount(u.cacheReadTokens)} cache read` : '',
    u.cacheWriteTokens ? `${tokenCount(u.cacheWriteTokens)} cache write` : '',
  ].filter(Boolean);
  return `${tokenCount(u.inputTokens)} in / ${tokenCount(u.outputTokens)} out tokens${cached.length ? ` (${cached.join(', ')})` : ''}`;
}

/** `cost $0.42 · 12.3k in / 2.1k out tokens (480k cache read) · 7 turns`; `cost unknown · …` without a price. */
export function usageText(u: Usage): string {
  const cost = u.costUsd === null ? costText(null) : `cost ${costText(u.costUsd)}`;
  return `${cost} · ${tokensText(u)}${u.turns ? ` · ${u.turns} turn${u.turns === 1 ? '' : 's'}` : ''}`;
}

/** `development, attempt 2: turn 7, running Bash, $0.42`. */
export function progressText(p: AgentProgress & { stage: string; attempt: number }): string {
  return `${p.stage}, attempt ${p.attempt}: turn ${p.turns}${p.lastTool ? `, running ${p.lastTool}` : ''}, ${costText(p.usage.costUsd)}`;
}
