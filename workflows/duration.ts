// Duration strings as the pipeline config writes them (`250ms`, `30s`, `5m`, `1h`). Pure: workflows use it.
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

export function durationToMs(d: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(d);
  if (!m) throw new TypeError(`${JSON.stringify(d)} is not a duration like 30s, 5m, 250ms`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}
