// Gitea REST API v1: a small client for the endpoints orch uses. Statuses and bodies follow
// go-gitea/gitea routers/api/v1/repo/pull.go and branch.go:
//   create PR 201; 409 when an open PR for head/base exists; 422 with a JSON array for a missing field;
//   list PRs: no head filter, and the page size is clamped to the server's MAX_RESPONSE_ITEMS;
//   merge 200; 405 with the reason as message (checking and conflicting alike: "Please try again later");
//   409 for a conflict (the error's fields, StdOut naming the files), "merge push out of date",
//   "head out of date", or a rejected push;
//   delete branch 204, 404 absent, 403 default/protected.

import { BranchProtectedError } from '../git.js';
import type { DeleteBranchResult } from './types.js';

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
  /** False while Gitea's checker runs, and when it found a conflict: the API does not say which. */
  mergeable: boolean;
  merge_commit_sha: string | null;
  head: { ref: string; sha: string };
  base: { ref: string; sha: string };
}

export interface ApiResponse {
  status: number;
  text: string;
}

/** Gitea clamps any larger page to its MAX_RESPONSE_ITEMS (50 by default); asking for 50 is harmless. */
const PAGE_SIZE = 50;
/** A runaway guard: 100 pages of PRs is far more than a repo's open PRs. */
const MAX_PAGES = 100;

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
      const existing = await this.findPullRequest(input.base, input.head, 'open');
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

  /**
   * The newest PR from `head` into `base` in `state` that `accept` takes, or null. The list has no
   * head filter, so every page is read until an empty one (a short page proves nothing: the server
   * may clamp below what was asked). `base_branch` narrows it on servers that know it (≥ 1.23).
   */
  async findPullRequest(
    base: string,
    head: string,
    state: 'open' | 'closed' | 'all',
    accept: (pr: GiteaPullRequest) => boolean = () => true,
  ): Promise<GiteaPullRequest | null> {
    let newest: GiteaPullRequest | null = null;
    for (let page = 1; page <= MAX_PAGES; page++) {
      const query = new URLSearchParams({ state, base_branch: base, page: String(page), limit: String(PAGE_SIZE) });
      const path = `${this.repoPath}/pulls?${query}`;
      const res = await this.request('GET', path);
      if (res.status !== 200) throw new GiteaApiError('GET', path, res.status, res.text);
      const pulls = parseJson<GiteaPullRequest[]>(res.text);
      if (pulls.length === 0) return newest;
      for (const p of pulls) {
        if (p.head.ref === head && p.base.ref === base && accept(p) && (!newest || p.number > newest.number)) newest = p;
      }
    }
    return newest;
  }

  /** POST …/merge as is: the caller classifies the answer. */
  async mergePullRequest(number: number, body: Record<string, string>): Promise<ApiResponse> {
    return this.request('POST', `${this.repoPath}/pulls/${number}/merge`, body);
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

export function parseJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

/**
 * The message of a Gitea error body: `{ message, url }`, a validation error's array of
 * `{ fieldNames, classification, message }`, else the raw text.
 */
export function errorMessage(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text.trim();
  }
  if (Array.isArray(parsed)) {
    return parsed
      .map((e: { fieldNames?: string[]; message?: string }) => `${(e.fieldNames ?? []).join(', ')}: ${e.message ?? ''}`.replace(/^: /, ''))
      .join('; ');
  }
  if (parsed && typeof parsed === 'object' && typeof (parsed as { message?: unknown }).message === 'string') {
    return (parsed as { message: string }).message;
  }
  return text.trim();
}
