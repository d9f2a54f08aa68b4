// Money from tokens, for agents that report tokens only (Codex). A model with no configured price
// has an unknown cost (null), never a silent $0.
import type { PriceTable, Usage } from '../../../workflows/contracts/index.js';

export function costOf(prices: PriceTable, model: string | undefined, usage: Omit<Usage, 'costUsd' | 'turns'>): number | null {
  const price = model === undefined ? undefined : prices[model];
  if (!price) return null;
  const perToken = (usdPerMillion: number) => usdPerMillion / 1_000_000;
  return (
    usage.inputTokens * perToken(price.input) +
    usage.cacheReadTokens * perToken(price.cachedInput ?? price.input) +
    usage.cacheWriteTokens * perToken(price.input) +
    usage.outputTokens * perToken(price.output)
  );
}
