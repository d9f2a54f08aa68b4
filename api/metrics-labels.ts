// Label values that come from data (stage, step, repo and model names) are capped: a runaway
// config cannot explode the series count of GET /metrics.

export const MAX_LABEL_VALUES = 64;

/** A label's value as it is: `(none)` for a missing one, `other` once `max` distinct values were seen. */
export function cappedLabel(max = MAX_LABEL_VALUES) {
  const seen = new Set<string>();
  return (value: string | null | undefined): string => {
    const v = value ?? '(none)';
    if (seen.has(v)) return v;
    if (seen.size >= max) return 'other';
    seen.add(v);
    return v;
  };
}
