// Gitea REST API v1: a small client for the endpoints orch uses, and the Forge built on it.
// Statuses follow Gitea's API v1 (routers/api/v1/repo/pull.go, branch.go):
//   create PR 201, 409 when an open PR for head/base exists;
//   merge 200, 405 when already merged *or* not mergeable yet (GET …/merge tells: 204 / 404), 409 conflict;
//   delete branch 204, 404 absent, 403 default/protected.

import { BranchProtectedError, assertDeletableBranch } from '../git.js';
import {
  MergeConflictError,
  NotMergeableError,
  type DeleteBranchInput,
  type DeleteBranchResult,
  type Forge,
  type MergeInput,
  type MergeResult,
  type OpenPullRequestInput,
  type PullRequestResult,
} from './types.js';

export interface GiteaClientOptions {
  /** e.g. `http://gitea:3000`; the API lives under `/api/v1`. */
  baseUrl: string;
  owner: string;
  repo: string;
  /** A personal access token. */
  token: string;
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
}

/** Gitea answered with a status the caller did not expect. */
export class GiteaApiError extends Error {
  override readonly name = 'GiteaApiError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`Gitea ${method} ${path} answered ${status}${body ? `: ${body.slice(0, 500)}` : ''}`);
  }
}

/** The fields of Gitea's PullRequest object orch reads. */
export interface GiteaPullRequest {
  number: number;
  html_url: string;
  state: 'open' | 'closed';
  merged: boolean;
  merge_commit_sha: string | null;
  head: { ref: string; sha: string };
  base: { ref: string; sha: string };
}

export type GiteaMergeOutcome = 'merged' | 'already-merged';

interface ApiResponse {
  status: number;
  text: string;
}

const PAGE_SIZE = 50;
const MAX_PAGES = 20;

export class GiteaClient {
  private readonly apiRoot: string;
  private readonly repoPath: string;

  constructor(private readonly options: GiteaClientOptions) {
    this.apiRoot = `${options.baseUrl.replace(/\/+$/, '')}/api/v1`;
    this.repoPath = `/repos/${encodeURIComponent(options.owner)}/${encodeURIComponent(options.repo)}`;
  }

  /** Opens a PR; when one is already open for head/base (409) returns that one with `created: false`. */
  async createPullRequest(input: {
    head: string;
    base: string;
    title: string;
    body: string;
  }): Promise<{ pr: GiteaPullRequest; created: boolean }> {
    const path = `${this.repoPath}/pulls`;
    const res = await this.request('POST', path, input);
    if (res.status === 201) return { pr: parseJson<GiteaPullRequest>(res.text), created: true };
    if (res.status === 409) {
      const existing = await this.findOpenPullRequest(input.base, input.head);
      if (existing) return { pr: existing, created: false };
    }
    throw new GiteaApiError('POST', path, res.status, res.text);
  }

  async getPullRequest(number: number): Promise<GiteaPullRequest> {
    const path = `${this.repoPath}/pulls/${number}`;
    const res = await this.request('GET', path);
    if (res.status === 200) return parseJson<GiteaPullRequest>(res.text);
    throw new GiteaApiError('GET', path, res.status, res.text);
  }

  /** The open PR from `head` into `base`, or null. */
  async findOpenPullRequest(base: string, head: string): Promise<GiteaPullRequest | null> {
    for (let page = 1; page <= MAX_PAGES; page++) {
      const query = new URLSearchParams({ state: 'open', page: String(page), limit: String(PAGE_SIZE) });
      const path = `${this.repoPath}/pulls?${query}`;
      const res = await this.request('GET', path);
      if (res.status !== 200) throw new GiteaApiError('GET', path, res.status, res.text);
      const pulls = parseJson<GiteaPullRequest[]>(res.text);
      const match = pulls.find((p) => p.head.ref === head && p.base.ref === base);
      if (match) return match;
      if (pulls.length < PAGE_SIZE) return null;
    }
    return null;
  }

  /** The most relevant PR (any state) from `head` into `base` (`GET /pulls/{base}/{head}`), or null. */
  async getPullRequestByBaseHead(base: string, head: string): Promise<GiteaPullRequest | null> {
    const path = `${this.repoPath}/pulls/${encodeURIComponent(base)}/${encodeURIComponent(head)}`;
    const res = await this.request('GET', path);
    if (res.status === 200) return parseJson<GiteaPullRequest>(res.text);
    if (res.status === 404) return null;
    throw new GiteaApiError('GET', path, res.status, res.text);
  }

  /** Whether PR `number` is merged (`GET …/merge`: 204 yes, 404 no). */
  async isMerged(number: number): Promise<boolean> {
    const path = `${this.repoPath}/pulls/${number}/merge`;
    const res = await this.request('GET', path);
    if (res.status === 204) return true;
    if (res.status === 404) return false;
    throw new GiteaApiError('GET', path, res.status, res.text);
  }

  /**
   * Merges PR `number` with a merge commit. 405 is ambiguous in Gitea (already merged, or not
   * mergeable yet), so it is settled with `isMerged`.
   */
  async mergePullRequest(
    number: number,
    ctx: { branch: string; base: string; message: string },
  ): Promise<GiteaMergeOutcome> {
    const path = `${this.repoPath}/pulls/${number}/merge`;
    const [title = '', ...rest] = ctx.message.split('\n');
    const body: Record<string, string> = { Do: 'merge' };
    if (title.trim()) body.MergeTitleField = title.trim();
    if (rest.join('\n').trim()) body.MergeMessageField = rest.join('\n').trim();

    const res = await this.request('POST', path, body);
    if (res.status === 200) return 'merged';
    if (res.status === 405) {
      if (await this.isMerged(number)) return 'already-merged';
      throw new NotMergeableError(ctx.branch, ctx.base, number, errorMessage(res.text) || 'Gitea says not mergeable yet');
    }
    if (res.status === 409) {
      throw new MergeConflictError(ctx.branch, ctx.base, [], errorMessage(res.text) || undefined);
    }
    throw new GiteaApiError('POST', path, res.status, res.text);
  }

  /** Deletes a branch with no policy of its own: 204 deleted, 404 absent, 403 → `BranchProtectedError`. */
  async deleteBranch(branch: string): Promise<DeleteBranchResult> {
    const path = `${this.repoPath}/branches/${encodeURIComponent(branch)}`;
    const res = await this.request('DELETE', path);
    if (res.status === 204) return { deleted: true, absent: false };
    if (res.status === 404) return { deleted: false, absent: true };
    if (res.status === 403) throw new BranchProtectedError(branch, 'forge-refused');
    throw new GiteaApiError('DELETE', path, res.status, res.text);
  }

  private async request(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    const headers: Record<string, string> = {
      Authorization: `token ${this.options.token}`,
      Accept: 'application/json',
    };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(`${this.apiRoot}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
    });
    return { status: response.status, text: await response.text() };
  }
}

export type GiteaForgeOptions = GiteaClientOptions;

/** The Forge on Gitea. Branch deletion applies orch's own policy before asking Gitea. */
export function createGiteaForge(options: GiteaForgeOptions): Forge {
  const client = new GiteaClient(options);
  return {
    kind: 'gitea',

    async openPullRequest({ branch, base, title, body }: OpenPullRequestInput): Promise<PullRequestResult> {
      const { pr, created } = await client.createPullRequest({ head: branch, base, title, body });
      return { number: pr.number, url: pr.html_url, existed: !created };
    },

    async merge({ branch, base, pr, message }: MergeInput): Promise<MergeResult> {
      let number = pr;
      if (number === null) {
        const found = await findPullRequestToMerge(client, branch, base);
        if (found.merged) return { merged: false, alreadyMerged: true, sha: found.merge_commit_sha ?? null };
        number = found.number;
      }
      const outcome = await client.mergePullRequest(number, { branch, base, message });
      const after = await client.getPullRequest(number);
      return {
        merged: outcome === 'merged',
        alreadyMerged: outcome === 'already-merged',
        sha: after.merge_commit_sha ?? null,
      };
    },

    async deleteBranch(input: DeleteBranchInput): Promise<DeleteBranchResult> {
      assertDeletableBranch(input.branch, input);
      return client.deleteBranch(input.branch);
    },
  };
}

/** The open PR for head/base, else the latest one when it is merged; otherwise not mergeable. */
async function findPullRequestToMerge(client: GiteaClient, branch: string, base: string): Promise<GiteaPullRequest> {
  const open = await client.findOpenPullRequest(base, branch);
  if (open) return open;
  const latest = await client.getPullRequestByBaseHead(base, branch);
  if (latest?.merged) return latest;
  throw new NotMergeableError(branch, base, null, 'there is no open pull request for this branch');
}

function parseJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

/** Gitea's error bodies are `{ message, url }`; fall back to the raw text. */
function errorMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON
  }
  return text.trim();
}
