// Plane REST API v1: a small client for what orch writes back to the board (comments, state
// changes), and the pure comment formatters. The `notifyPlane` activity is activities/plane.ts.
//
// Facts it relies on (Plane `apps/api/plane/api`, see /work/shared/REFERENCE.md):
//   base `${PLANE_BASE_URL}/api/v1/`, every request carries `X-Api-Key`;
//   GET   /workspaces/{slug}/projects/{pid}/states/                       → paginated `{results, next_cursor, next_page_results}` (older: a bare list)
//   GET   /workspaces/{slug}/projects/{pid}/work-items/?per_page&cursor   → paginated work items, `state` as an id
//   POST  /workspaces/{slug}/projects/{pid}/work-items/{id}/comments/     `{comment_html}` → 201
//   PATCH /workspaces/{slug}/projects/{pid}/work-items/{id}/              `{state}` → 200
//   `work-items/` exists since Plane v1.1.0; `issues/` (deprecated) is served by every version. A
//   404 on `work-items/` is tried again on `issues/`, and the answer is remembered per project;
//   a wrong or missing key → 403 (DRF's APIKeyAuthentication fails as "permission denied"; a
//   proxy may say 401);
//   rate limit 60 requests/min per key, a sliding window: allowed answers carry
//   `X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds); a 429 (DRF throttle) carries
//   only `Retry-After` (seconds).
//
// orch's own writes come back as webhooks with orch's bot user as actor; the webhook drops them.
import { usageText, type CompensationResult, type ProgressUpdate, type Usage } from '../../workflows/contracts/index.js';

/** The Plane settings orch writes with (from the worker's env config); any missing = no writes. */
export interface PlaneClientConfig {
  baseUrl?: string | undefined;
  apiKey?: string | undefined;
  workspaceSlug?: string | undefined;
}

export interface PlaneClientOptions {
  /** e.g. `https://plane.example.com` (without `/api/v1`). */
  baseUrl: string;
  apiKey: string;
  workspaceSlug: string;
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
  /** Retries after a 429. Default 3. */
  maxRateLimitRetries?: number;
  /** The longest orch waits for a rate-limit window to reset before giving up. Default 65 s. */
  maxRateLimitWaitMs?: number;
  /** For tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** Plane answered with a status the caller did not expect. */
export class PlaneApiError extends Error {
  override readonly name = 'PlaneApiError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
    hint?: string,
  ) {
    super(`Plane ${method} ${path} answered ${status}${hint ? ` (${hint})` : ''}${body ? `: ${body.slice(0, 500)}` : ''}`);
  }
  get isAuthError(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

export interface PlaneState {
  id: string;
  name: string;
  group: 'backlog' | 'unstarted' | 'started' | 'completed' | 'cancelled' | 'triage' | string;
  color?: string;
  sequence?: number;
  default?: boolean;
}

export interface PlaneComment {
  id: string;
  comment_html?: string;
}

export interface PlaneWorkItem {
  id: string;
  state: string | { id: string } | null;
  sequence_id?: number;
  name?: string;
  project?: string;
  description_html?: string | null;
  description_stripped?: string | null;
  updated_at?: string;
}

/** Where a project's work items live: `work-items` (Plane ≥ v1.1.0) or the older `issues`. */
export type WorkItemSegment = 'work-items' | 'issues';

type Page<T> = T[] | { results?: T[]; next_cursor?: string | null; next_page_results?: boolean };

const sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const MAX_PAGES = 50;

/**
 * How long to wait after a 429 (or after an answer that used up the window). `Retry-After` is
 * seconds (or an HTTP date); `X-RateLimit-Reset` is epoch seconds in Plane, but a small value is
 * read as seconds from now, as some proxies send it.
 */
export function rateLimitWaitMs(headers: Headers, now: number): number | null {
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.max(0, Number(retryAfter) * 1000);
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const reset = headers.get('x-ratelimit-reset')?.trim();
  if (reset && /^\d+(\.\d+)?$/.test(reset)) {
    const n = Number(reset);
    // 1e9 s is 2001: anything below is a delta, not an epoch.
    return Math.max(0, n >= 1e9 ? n * 1000 - now : n * 1000);
  }
  return null;
}

export class PlaneClient {
  private readonly apiRoot: string;
  private readonly workspacePath: string;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  /** Set when an answer said the window is used up: the next request waits until then. */
  private blockedUntil = 0;

  constructor(private readonly options: PlaneClientOptions) {
    this.apiRoot = `${options.baseUrl.replace(/\/+$/, '')}/api/v1`;
    this.workspacePath = `/workspaces/${encodeURIComponent(options.workspaceSlug)}`;
    this.sleep = options.sleep ?? sleepMs;
    this.now = options.now ?? Date.now;
  }

  /** Which segment works for each project, once a request has told (per client: per base URL). */
  private readonly segments = new Map<string, WorkItemSegment>();

  private projectPath(projectId: string): string {
    return `${this.workspacePath}/projects/${encodeURIComponent(projectId)}`;
  }

  /**
   * Runs `call` on the project's work-item segment: the remembered one, else `work-items` and, on
   * a 404, `issues`. The segment that answers is remembered; a 404 on both is the caller's 404.
   */
  private async onWorkItems<T>(projectId: string, call: (base: string) => Promise<T>): Promise<T> {
    const known = this.segments.get(projectId);
    const base = (seg: WorkItemSegment) => `${this.projectPath(projectId)}/${seg}/`;
    if (known) return call(base(known));
    try {
      const r = await call(base('work-items'));
      this.segments.set(projectId, 'work-items');
      return r;
    } catch (err) {
      if (!(err instanceof PlaneApiError && err.status === 404)) throw err;
      const r = await call(base('issues')).catch((old: unknown) => {
        throw old instanceof PlaneApiError && old.status === 404 ? err : old;
      });
      this.segments.set(projectId, 'issues');
      return r;
    }
  }

  /** The segment a project's work items were last reached on (undefined before the first call). */
  segmentOf(projectId: string): WorkItemSegment | undefined {
    return this.segments.get(projectId);
  }

  /** Every page of a paginated list (or a bare list, as older versions answer). */
  private async allPages<T>(base: string, perPage: number): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const q = new URLSearchParams({ per_page: String(perPage) });
      if (cursor) q.set('cursor', cursor);
      const body = (await this.request('GET', `${base}?${q}`, undefined, [200])) as Page<T>;
      if (Array.isArray(body)) return body;
      out.push(...(body.results ?? []));
      if (!body.next_page_results || !body.next_cursor || body.next_cursor === cursor) return out;
      cursor = body.next_cursor;
    }
    throw new PlaneApiError('GET', base, 200, '', `more than ${MAX_PAGES} pages of ${perPage}`);
  }

  /** All states of a project (every page). */
  async listStates(projectId: string): Promise<PlaneState[]> {
    return this.allPages<PlaneState>(`${this.projectPath(projectId)}/states/`, 100);
  }

  /** All work items of a project (every page of 100). */
  async listWorkItems(projectId: string): Promise<PlaneWorkItem[]> {
    return this.onWorkItems(projectId, (base) => this.allPages<PlaneWorkItem>(base, 100));
  }

  async addComment(projectId: string, workItemId: string, html: string): Promise<PlaneComment> {
    return this.onWorkItems(
      projectId,
      async (base) => (await this.request('POST', `${base}${encodeURIComponent(workItemId)}/comments/`, { comment_html: html }, [200, 201])) as PlaneComment,
    );
  }

  async setState(projectId: string, workItemId: string, stateId: string): Promise<PlaneWorkItem> {
    return this.onWorkItems(projectId, async (base) => (await this.request('PATCH', `${base}${encodeURIComponent(workItemId)}/`, { state: stateId }, [200])) as PlaneWorkItem);
  }

  private async request(method: string, path: string, body: unknown, ok: number[]): Promise<unknown> {
    const retries = this.options.maxRateLimitRetries ?? 3;
    const maxWait = this.options.maxRateLimitWaitMs ?? 65_000;
    for (let attempt = 0; ; attempt++) {
      const blocked = this.blockedUntil - this.now();
      this.blockedUntil = 0;
      if (blocked > 0) await this.sleep(Math.min(blocked, maxWait));
      const res = await fetch(`${this.apiRoot}${path}`, {
        method,
        headers: {
          'x-api-key': this.options.apiKey,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
      const text = await res.text();
      if (res.status !== 429 && res.headers.get('x-ratelimit-remaining')?.trim() === '0') {
        const wait = rateLimitWaitMs(res.headers, this.now());
        if (wait !== null) this.blockedUntil = this.now() + wait;
      }
      if (res.status === 429) {
        const wait = rateLimitWaitMs(res.headers, this.now()) ?? Math.min(1000 * 2 ** attempt, maxWait);
        if (attempt >= retries || wait > maxWait) {
          throw new PlaneApiError(method, path, 429, text, `rate limited; gave up after ${attempt + 1} attempt(s), reset in ${Math.round(wait / 1000)} s`);
        }
        // A little past the reset, so the window has really turned.
        await this.sleep(wait + 250);
        continue;
      }
      if (!ok.includes(res.status)) {
        const hint =
          res.status === 401 || res.status === 403
            ? 'Plane rejected the API key (PLANE_API_KEY): check the key, its workspace and the bot user\'s project membership'
            : res.status === 404
              ? 'no such workspace, project or work item (check PLANE_WORKSPACE_SLUG and the ids)'
              : undefined;
        throw new PlaneApiError(method, path, res.status, text, hint);
      }
      if (!text) return null;
      try {
        return JSON.parse(text);
      } catch {
        throw new PlaneApiError(method, path, res.status, text, 'answer is not JSON');
      }
    }
  }
}

/** A client when the config is complete; null when Plane is not configured. */
export function planeClientFrom({ baseUrl, apiKey, workspaceSlug }: PlaneClientConfig): PlaneClient | null {
  return baseUrl && apiKey && workspaceSlug ? new PlaneClient({ baseUrl, apiKey, workspaceSlug }) : null;
}

// ----------------------------------------------------------------------- comment formatters

export const escapeHtml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

const code = (s: string) => `<code>${escapeHtml(s)}</code>`;

const COMPENSATION_LABEL: Record<CompensationResult['step'], string> = {
  'kill-agent': 'stop the agent',
  'cancel-jobs': 'cancel queued and running jobs',
  'remove-worktree': 'remove the worktree',
  'delete-branch': 'delete the feature branch',
};

/** ` — cost $0.42 · 12.3k in / 2.1k out tokens · 7 turns` after a stage's sentence; nothing without usage. */
const spent = (u: Usage | undefined) => (u ? ` — ${escapeHtml(usageText(u))}` : '');
/** The task's usage as its own paragraph of an ending comment. */
const spentParagraph = (u: Usage | undefined) => (u ? `<p>Agents spent: ${escapeHtml(usageText(u))}.</p>` : '');

/** The HTML of the comment orch posts on a work item for one step of its task. */
export function formatProgressComment(u: ProgressUpdate): string {
  const head = `<p><strong>orch</strong> · ${code(u.key)}: `;
  switch (u.kind) {
    case 'started':
      return `${head}pipeline started for repo ${code(u.repo)}.</p>`;
    case 'stage': {
      const details = [u.attempt && u.attempt > 1 ? `attempt ${u.attempt}` : '', u.host ? `on ${code(u.host)}` : ''].filter(Boolean).join(', ');
      return `${head}stage ${code(u.stage)} started${details ? ` (${details})` : ''}.</p>`;
    }
    case 'stage-retry':
      return `${head}stage ${code(u.stage)} attempt ${u.attempt} did not pass${u.usage ? ` (${escapeHtml(usageText(u.usage))})` : ''}: ${escapeHtml(u.reason)}. Retrying.</p>`;
    case 'stage-passed':
      return `${head}stage ${code(u.stage)} passed${u.attempt > 1 ? ` (attempt ${u.attempt})` : ''}${spent(u.usage)}.</p>`;
    case 'approval-requested':
      return (
        `${head}${u.reminder ? `reminder ${u.reminder}: ` : ''}⏸ waiting for approval of ${code(u.stage)}.</p>` +
        (u.prompt ? `<p>${escapeHtml(u.prompt)}</p>` : '') +
        `<p>Comment ${code('/approve')} to go on, or ${code('/reject <why>')} to send it back; or run ${code(`orch approve ${u.key}`)}.</p>`
      );
    case 'approval-decided': {
      const verb = u.decision === 'approved' ? '✅ approved' : u.decision === 'rejected' ? '↩ rejected' : '⌛ approval timed out';
      return `${head}${code(u.stage)} ${verb}${u.decision === 'timed-out' ? '' : ` by ${escapeHtml(u.by)}`}${u.comment ? `: ${escapeHtml(u.comment)}` : '.'}</p>`;
    }
    case 'rework':
      return `${head}stage ${code(u.stage)} ran out of attempts; back to ${code(u.goto)} (loop ${u.loop}): ${escapeHtml(u.reason)}</p>`;
    case 'done':
      return `${head}✅ done — merged${u.sha ? ` as ${code(u.sha.slice(0, 12))}` : ''} and deployed.</p>${spentParagraph(u.usage)}`;
    case 'failed':
      return `${head}❌ failed: ${escapeHtml(u.reason)}</p>${spentParagraph(u.usage)}`;
    case 'cancelled': {
      const by = [u.reason ? escapeHtml(u.reason) : '', u.requestedBy ? `requested by ${escapeHtml(u.requestedBy)}` : ''].filter(Boolean).join(', ');
      const items = u.compensation.map(
        (c) => `<li>${c.ok ? '✔' : '✘'} ${escapeHtml(COMPENSATION_LABEL[c.step] ?? c.step)}${c.detail ? `: ${escapeHtml(c.detail)}` : ''}</li>`,
      );
      const failed = u.compensation.filter((c) => !c.ok).length;
      return (
        `${head}⏹ cancelled${by ? ` (${by})` : ''}.</p>` +
        (items.length ? `<p>Clean-up${failed ? ` — ${failed} step(s) need attention` : ''}:</p><ul>${items.join('')}</ul>` : '<p>Nothing to clean up.</p>') +
        spentParagraph(u.usage)
      );
    }
  }
}
