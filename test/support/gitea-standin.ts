// A local stand-in for the Gitea API v1 endpoints orch uses, backed by a real bare git repository,
// written from Gitea's source (routers/api/v1/repo/pull.go, branch.go; services/pull/check.go,
// merge.go; services/convert/pull.go), not from orch's client:
//   POST   /api/v1/repos/{o}/{r}/pulls                  201 | 409 open PR exists | 422 head = base,
//                                                      or a missing field (a JSON array) | 404 no branch
//   GET    /api/v1/repos/{o}/{r}/pulls?state=&base_branch=&page=&limit=   no head filter; limit clamped
//                                                      to MAX_RESPONSE_ITEMS (`maxResponseItems`)
//   GET    /api/v1/repos/{o}/{r}/pulls/{n}              200 | 404
//   GET    /api/v1/repos/{o}/{r}/pulls/{base}/{head}    200 (some match, not the newest) | 404
//   POST   /api/v1/repos/{o}/{r}/pulls/{n}/merge        200 | 405 "" already merged | 405 "Please try
//                                                      again later" for any status but mergeable (checking
//                                                      or conflict) | 409 "head out of date" (head_commit_id)
//                                                      | 409 a conflict git found ({Style, StdOut, StdErr, Err})
//                                                      | 409 "merge push out of date" | 404 closed
//   GET    /api/v1/repos/{o}/{r}/pulls/{n}/merge        204 merged | 404
//   DELETE /api/v1/repos/{o}/{r}/branches/{b}           204 | 404 | 403 default or protected
// Like Gitea, a PR starts `checking`, and a background checker later marks it `mergeable` or
// `conflict`; the API's `mergeable` is false in both states but the last. A push to a PR's head or
// base is noticed a little later (`pushReactionMs`): the PR's head ref (what a merge merges and
// `head_commit_id` is compared with) moves then, and the PR goes back to `checking`.
// Every request needs `Authorization: token <token>` (or `Bearer`), else 401.

import {
  HttpError,
  background,
  bareGit,
  segmentsUnder,
  serialiser,
  serve,
  type RecordedRequest,
  type Reply,
} from './forge-standin-kit.js';

export type { RecordedRequest } from './forge-standin-kit.js';

export interface GiteaStandinOptions {
  token: string;
  owner: string;
  repo: string;
  bareRepoPath: string;
  defaultBranch?: string;
  /** Exact branch names Gitea treats as protected (403 on delete). */
  protectedBranches?: string[];
  /** How long the background checker takes for one PR. Default 100 ms. */
  checkDelayMs?: number;
  /** How long Gitea takes to react to a push to a PR's head or base. Default 20 ms. */
  pushReactionMs?: number;
  /** Gitea's [api] MAX_RESPONSE_ITEMS: list pages are clamped to it. Default 50. */
  maxResponseItems?: number;
  /** Test hooks at the moments a real server can race. */
  hooks?: {
    /** A merge request arrived (before Gitea looks at the PR's status). */
    mergeRequested?(n: number): Promise<void> | void;
    /** The status check passed; git has not merged yet (the checker may be behind the base). */
    mergeChecked?(n: number): Promise<void> | void;
    /** The merge commit exists; the base branch is updated next (compare-and-swap). */
    beforePush?(n: number): Promise<void> | void;
    /** Told of every answer, after it is sent. */
    replied?(r: RecordedRequest): void;
  };
}

export type PullStatus = 'checking' | 'mergeable' | 'conflict';

export interface GiteaStandin {
  baseUrl: string;
  requests: RecordedRequest[];
  status(n: number): PullStatus;
  /** Gitea re-checks PR `n` at once (as after noticing a push). */
  recheck(n: number): void;
  /** Holds Gitea's background work (checks, reactions to pushes) until the returned release. */
  hold(): () => void;
  /** Resolves once no background work is pending. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

interface Pull {
  number: number;
  title: string;
  body: string;
  head: string;
  base: string;
  state: 'open' | 'closed';
  merged: boolean;
  mergedAt: string | null;
  mergeCommitSha: string | null;
  status: PullStatus;
  /** refs/pull/N/head: what a merge merges. */
  pullHead: string;
  /** The branch tips Gitea last reacted to. */
  seenHead: string;
  seenBase: string;
  reactionPending: boolean;
  createdAt: string;
}

const NOT_FOUND = "The target couldn't be found.";

export async function startGiteaStandin(options: GiteaStandinOptions): Promise<GiteaStandin> {
  const { token, owner, repo } = options;
  const defaultBranch = options.defaultBranch ?? 'main';
  const protectedBranches = new Set(options.protectedBranches ?? []);
  const checkDelayMs = options.checkDelayMs ?? 100;
  const pushReactionMs = options.pushReactionMs ?? 20;
  const maxResponseItems = options.maxResponseItems ?? 50;
  const hooks = options.hooks ?? {};
  const requests: RecordedRequest[] = [];
  const pulls = new Map<number, Pull>();
  const g = bareGit(options.bareRepoPath);
  const work = background();
  const serially = serialiser();
  let nextNumber = 1;
  let baseUrl = '';

  // The checker (services/pull/check.go): test-merge the PR's head ref into its base.
  const check = (pull: Pull) =>
    work.after(checkDelayMs, () =>
      serially(async () => {
        if (pull.state !== 'open' || pull.status !== 'checking') return;
        const base = await g.branchSha(pull.base);
        if (!base) return;
        const merged = await g.mergeTree(base, pull.pullHead);
        pull.status = 'tree' in merged ? 'mergeable' : 'conflict';
        pull.seenBase = base;
      }),
    );
  const startCheck = (pull: Pull) => {
    pull.status = 'checking';
    check(pull);
  };
  // Gitea learns of pushes from its hooks, a moment later; the stand-in notices them on requests.
  const notice = async (pull: Pull) => {
    if (pull.state !== 'open' || pull.reactionPending) return;
    const [head, base] = [await g.branchSha(pull.head), await g.branchSha(pull.base)];
    if ((head ?? pull.seenHead) === pull.seenHead && (base ?? pull.seenBase) === pull.seenBase) return;
    pull.reactionPending = true;
    work.after(pushReactionMs, async () => {
      pull.reactionPending = false;
      const [h, b] = [await g.branchSha(pull.head), await g.branchSha(pull.base)];
      if (h) pull.pullHead = pull.seenHead = h;
      if (b) pull.seenBase = b;
      startCheck(pull);
    });
  };

  const toJson = async (p: Pull) => ({
    id: p.number,
    number: p.number,
    url: `${baseUrl}/${owner}/${repo}/pulls/${p.number}`,
    html_url: `${baseUrl}/${owner}/${repo}/pulls/${p.number}`,
    title: p.title,
    body: p.body,
    state: p.state,
    merged: p.merged,
    merged_at: p.mergedAt,
    merge_commit_sha: p.mergeCommitSha,
    // PullRequest.Mergeable(): not while checking, not with a conflict (convert/pull.go).
    mergeable: p.state === 'open' && p.status === 'mergeable',
    created_at: p.createdAt,
    // head.sha is read from the head branch itself (convert/pull.go), the PR ref when it is gone.
    head: { label: p.head, ref: p.head, sha: (await g.branchSha(p.head)) ?? p.pullHead },
    base: { label: p.base, ref: p.base, sha: (await g.branchSha(p.base)) ?? '' },
  });

  const createPull = async (body: Record<string, unknown>): Promise<Pull> => {
    // Binding (CreatePullRequestOption: head, base, title are Required) comes before the handler.
    const missing = ['Head', 'Base', 'Title'].filter((f) => !String(body[f.toLowerCase()] ?? '').trim());
    if (missing.length > 0) {
      throw new HttpError(422, 'validation', missing.map((f) => ({ fieldNames: [f], classification: 'RequiredError', message: 'Required' })));
    }
    const head = String(body.head);
    const base = String(body.base);
    if (head === base) throw new HttpError(422, 'Invalid PullRequest: There are no changes between the head and the base');
    const [headSha, baseSha] = [await g.branchSha(head), await g.branchSha(base)];
    if (!headSha || !baseSha) throw new HttpError(404, NOT_FOUND);
    const existing = [...pulls.values()].find((p) => p.state === 'open' && p.head === head && p.base === base);
    if (existing) {
      throw new HttpError(
        409,
        `pull request already exists for these targets [id: ${existing.number}, issue_id: ${existing.number}, head_repo_id: 1, base_repo_id: 1, head_branch: ${head}, base_branch: ${base}]`,
      );
    }
    const pull: Pull = {
      number: nextNumber++,
      title: String(body.title),
      body: String(body.body ?? ''),
      head,
      base,
      state: 'open',
      merged: false,
      mergedAt: null,
      mergeCommitSha: null,
      status: 'checking',
      pullHead: headSha,
      seenHead: headSha,
      seenBase: baseSha,
      reactionPending: false,
      createdAt: new Date().toISOString(),
    };
    pulls.set(pull.number, pull);
    check(pull);
    return pull;
  };

  const mergePull = async (pull: Pull, body: Record<string, unknown>): Promise<void> => {
    // CheckPullMergeable
    if (pull.merged) throw new HttpError(405, '');
    if (pull.state === 'closed') throw new HttpError(404, NOT_FOUND);
    if (pull.status !== 'mergeable') throw new HttpError(405, 'Please try again later');
    const style = String(body.Do ?? 'merge') || 'merge';
    if (style !== 'merge') throw new HttpError(405, `${style} is not allowed an allowed merge style for this repository`);
    await hooks.mergeChecked?.(pull.number);

    // pull_service.Merge: the temporary repo's tracking branch is the PR's head ref.
    const expected = String(body.head_commit_id ?? '');
    if (expected && expected !== pull.pullHead) throw new HttpError(409, 'head out of date');
    const base = await g.branchSha(pull.base);
    if (!base) throw new HttpError(404, NOT_FOUND);
    const merged = await g.mergeTree(base, pull.pullHead);
    if (!('tree' in merged)) {
      const stdout = `${merged.messages}\nAutomatic merge failed; fix conflicts and then commit the result.\n`;
      throw new HttpError(409, 'conflict', { Style: style, StdOut: stdout, StdErr: '', Err: {} });
    }
    const title =
      String(body.MergeTitleField ?? '').trim() ||
      `Merge pull request '${pull.title}' (#${pull.number}) from ${pull.head} into ${pull.base}`;
    const extra = String(body.MergeMessageField ?? '').trim();
    const commit = await g.commitMerge(merged.tree, [base, pull.pullHead], extra ? `${title}\n\n${extra}` : title);
    await hooks.beforePush?.(pull.number);
    if (!(await g.casUpdate(pull.base, commit, base))) throw new HttpError(409, 'merge push out of date');
    Object.assign(pull, { merged: true, state: 'closed', mergedAt: new Date().toISOString(), mergeCommitSha: commit });
    // After a merge Gitea re-checks the other PRs into that base.
    for (const other of pulls.values()) if (other.state === 'open' && other.base === pull.base) void notice(other);
  };

  const deleteBranch = async (branch: string) => {
    if (branch === defaultBranch) throw new HttpError(403, 'can not delete default branch');
    if (protectedBranches.has(branch)) throw new HttpError(403, 'branch protected');
    const sha = await g.branchSha(branch);
    if (!sha) throw new HttpError(404, NOT_FOUND);
    await g.deleteRef(branch, sha);
  };

  const findPull = (raw: string): Pull => {
    const pull = /^\d+$/.test(raw) ? pulls.get(Number(raw)) : undefined;
    if (!pull) throw new HttpError(404, NOT_FOUND);
    return pull;
  };

  const route = async (method: string, segments: string[], query: URLSearchParams, body: unknown): Promise<Reply> => {
    const input = (body ?? {}) as Record<string, unknown>;
    const [kind, ...rest] = segments;
    if (kind === 'pulls') {
      if (rest.length === 0 && method === 'POST') return { status: 201, json: await toJson(await serially(() => createPull(input))) };
      if (rest.length === 0 && method === 'GET') {
        // utils.GetListOptions → ToCorrectPageSize: 0 → DefaultPagingNum (30), above the maximum → the maximum.
        const asked = Number(query.get('limit') ?? 0);
        const limit = asked <= 0 ? Math.min(30, maxResponseItems) : Math.min(asked, maxResponseItems);
        const page = Math.max(1, Number(query.get('page') ?? 1));
        const state = query.get('state') || 'open';
        const baseBranch = query.get('base_branch');
        const list = [...pulls.values()]
          .filter((p) => (state === 'all' || p.state === state) && (!baseBranch || p.base === baseBranch))
          .sort((a, b) => b.number - a.number);
        const slice = list.slice((page - 1) * limit, page * limit);
        for (const p of slice) await notice(p);
        return { status: 200, json: await Promise.all(slice.map(toJson)) };
      }
      if (rest.length === 1 && method === 'GET') {
        const pull = findPull(rest[0]!);
        await notice(pull);
        return { status: 200, json: await toJson(pull) };
      }
      if (rest.length === 2 && rest[1] === 'merge' && /^\d+$/.test(rest[0]!)) {
        const pull = findPull(rest[0]!);
        if (method === 'POST') {
          await hooks.mergeRequested?.(pull.number);
          await notice(pull);
          await serially(() => mergePull(pull, input));
          return { status: 200 };
        }
        if (method === 'GET') return { status: pull.merged ? 204 : 404 };
      }
      if (rest.length >= 2 && method === 'GET') {
        // GetPullRequestByBaseHeadInfo: any PR for base/head, not the newest; here the oldest.
        const [base, ...headParts] = rest;
        const head = headParts.join('/');
        const match = [...pulls.values()].filter((p) => p.base === base && p.head === head).sort((a, b) => a.number - b.number)[0];
        if (!match) throw new HttpError(404, NOT_FOUND);
        return { status: 200, json: await toJson(match) };
      }
    }
    if (kind === 'branches' && rest.length >= 1 && method === 'DELETE') {
      await serially(() => deleteBranch(rest.join('/')));
      return { status: 204 };
    }
    throw new HttpError(404, 'not found');
  };

  const server = await serve(
    async ({ method, url, authorization, text }, root) => {
      baseUrl = root;
      try {
        let body: unknown;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          throw new HttpError(422, 'invalid JSON body');
        }
        const credential = /^(?:token|bearer)\s+(.+)$/i.exec(authorization ?? '')?.[1];
        if (credential !== token) throw new HttpError(401, 'token is required');
        const under = segmentsUnder(url, `/api/v1/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/`);
        if (!under) throw new HttpError(404, 'not found');
        return await route(method, under.segments, under.query, body);
      } catch (err) {
        if (err instanceof HttpError) return { status: err.status, json: err.json ?? { message: err.message, url: `${root}/api/swagger` } };
        return { status: 500, json: { message: err instanceof Error ? err.message : String(err) } };
      }
    },
    (r) => {
      requests.push(r);
      hooks.replied?.(r);
    },
  );
  baseUrl = server.baseUrl;

  return {
    baseUrl,
    requests,
    status: (n) => findPull(String(n)).status,
    recheck: (n) => startCheck(findPull(String(n))),
    hold: () => work.hold(),
    settled: () => work.settled(),
    close: async () => {
      work.stop();
      await server.close();
    },
  };
}
