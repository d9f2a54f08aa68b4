// GitHub's rate limits, as its REST docs ask clients to treat them: a 403 or 429 with `retry-after`
// waits that many seconds; with `x-ratelimit-remaining: 0`, until `x-ratelimit-reset` (epoch
// seconds); a secondary limit with neither, at least a minute, doubling on each repeat. A 403
// without any of that is a permission error and is not retried.
import type { Octokit } from '@octokit/rest';

export interface RateLimitOptions {
  /** Retries of one request. Default 4. */
  maxRetries?: number;
  /** A longer wait is not waited here: the error goes up (Temporal retries the activity later). Default 60 s. */
  maxWaitMs?: number;
  /** Injected by tests. */
  sleep?: (ms: number) => Promise<void>;
}

interface ErrorLike {
  status?: unknown;
  message?: unknown;
  response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
}

/** How long to wait before retrying after `err`, or null when it is not a rate limit. */
export function rateLimitWait(err: unknown, attempt: number, now = Date.now()): number | null {
  const e = (err ?? {}) as ErrorLike;
  if (e.status !== 403 && e.status !== 429) return null;
  const headers = e.response?.headers ?? {};
  const retryAfter = Number(headers['retry-after']);
  if (headers['retry-after'] !== undefined && Number.isFinite(retryAfter)) return Math.max(0, retryAfter) * 1000;
  const reset = Number(headers['x-ratelimit-reset']);
  if (String(headers['x-ratelimit-remaining']) === '0' && Number.isFinite(reset)) return Math.max(0, reset * 1000 - now);
  const data = e.response?.data as { message?: unknown } | undefined;
  const message = String(data?.message ?? e.message ?? '');
  if (e.status === 429 || /secondary rate limit/i.test(message)) return 60_000 * 2 ** attempt;
  return null;
}

/** Makes every request of `octokit` wait out and retry GitHub's rate limits. */
export function respectRateLimits(octokit: Octokit, options: RateLimitOptions = {}): void {
  const { maxRetries = 4, maxWaitMs = 60_000 } = options;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  octokit.hook.wrap('request', async (request, requestOptions) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await request(requestOptions);
      } catch (err) {
        const wait = rateLimitWait(err, attempt);
        if (wait === null || attempt >= maxRetries || wait > maxWaitMs) throw err;
        await sleep(wait);
      }
    }
  });
}
