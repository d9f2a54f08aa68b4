// A local stand-in for the GitHub REST endpoints orch uses, backed by a real bare git repository,
// written from GitHub's REST documentation (pulls, git refs, rate limits), not from orch's client:
//   POST   /repos/{o}/{r}/pulls                 201 | 422 "Validation Failed" with `errors`: missing_field,
//                                              an invalid head/base, "No commits between …", or
//                                              "A pull request already exists for {o}:{branch}."
//   GET    /repos/{o}/{r}/pulls?state=&head={o}:{branch}&base=&per_page=&page=   paged by a Link header;
//                                              per_page at most `maxPerPage` (GitHub: 100)
//   GET    /repos/{o}/{r}/pulls/{n}             200: `mergeable` null while GitHub computes it in the
//                                              background (`mergeable_state` "unknown"), then true
//                                              ("clean") or false ("dirty") | 404
//   PUT    /repos/{o}/{r}/pulls/{n}/merge       200 {sha, merged, message} | 405 "Pull Request is not
//                                              mergeable" | 405 "Base branch was modified…" | 409 "Head
//                                              branch was modified…" when `sha` is not the PR's head | 404
//   PATCH  /repos/{o}/{r}/pulls/{n}             200 (only `state: closed`, for tests' setup)
//   GET    /repos/{o}/{r}/pulls/{n}/merge       204 merged | 404
//   DELETE /repos/{o}/{r}/git/refs/heads/{b}    204 | 422 "Reference does not exist" | 422 default/protected
// A push to a PR's head or base reaches the PR a little later (`pushReactionMs`): its head sha
// moves then and `mergeable` goes back to null. Every answer carries the x-ratelimit-* headers;
// `rateLimitNext` makes the next request hit a primary or secondary limit as GitHub answers them.
// Auth: `Authorization: token <t>` or `Bearer <t>`, else 401 "Bad credentials".

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

export interface GitHubStandinOptions {
  token: string;
  owner: string;
  repo: string;
  bareRepoPath: string;
  defaultBranch?: string;
  protectedBranches?: string[];
  /** How long GitHub takes to compute a PR's mergeability. Default 100 ms. */
  computeDelayMs?: number;
  /** How long a push takes to reach the PRs it touches. Default 20 ms. */
  pushReactionMs?: number;
  /** The largest per_page honoured. Default 100. */
  maxPerPage?: number;
  hooks?: {
    /** A merge request arrived. */
    mergeRequested?(n: number): Promise<void> | void;
    /** GitHub accepted the merge request; git has not merged yet. */
    mergeChecked?(n: number): Promise<void> | void;
    /** The merge commit exists; the base branch is updated next (compare-and-swap). */
    beforePush?(n: number): Promise<void> | void;
    replied?(r: RecordedRequest): void;
  };
}

export interface GitHubStandin {
  baseUrl: string;
  requests: RecordedRequest[];
  mergeable(n: number): boolean | null;
  /** The next request is refused by a rate limit: secondary (retry-after) or primary (remaining 0, reset). */
  rateLimitNext(kind: 'secondary' | 'primary', seconds: number): void;
  hold(): () => void;
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
  mergedAt: string | null;
  mergeCommitSha: string | null;
  /** The head sha GitHub has for the PR: the merge's `sha` is compared with it. */
  prHead: string;
  seenBase: string;
  mergeable: boolean | null;
  computing: boolean;
  reactionPending: boolean;
  createdAt: string;
}

const DOCS = 'https://docs.github.com/rest';
const validation = (errors: unknown[]) => new HttpError(422, 'Validation Failed', { message: 'Validation Failed', errors, documentation_url: DOCS });

export async function startGitHubStandin(options: GitHubStandinOptions): Promise<GitHubStandin> {
  const { token, owner, repo } = options;
  const defaultBranch = options.defaultBranch ?? 'main';
  const protectedBranches = new Set(options.protectedBranches ?? []);
  const computeDelayMs = options.computeDelayMs ?? 100;
  const pushReactionMs = options.pushReactionMs ?? 20;
  const maxPerPage = options.maxPerPage ?? 100;
  const hooks = options.hooks ?? {};
  const requests: RecordedRequest[] = [];
  const pulls = new Map<number, Pull>();
  const g = bareGit(options.bareRepoPath);
  const work = background();
  const serially = serialiser();
  let nextNumber = 1;
  let limited: { kind: 'secondary' | 'primary'; seconds: number } | null = null;
  let baseUrl = '';

  const compute = (pull: Pull) => {
    if (pull.computing || pull.state !== 'open') return;
    pull.computing = true;
    work.after(computeDelayMs, () =>
      serially(async () => {
        pull.computing = false;
        const base = await g.branchSha(pull.base);
        if (!base || pull.state !== 'open') return;
        const merged = await g.mergeTree(base, pull.prHead);
        // A clean PR's merge_commit_sha is its test merge commit.
        pull.mergeable = 'tree' in merged;
        pull.mergeCommitSha = 'tree' in merged ? await g.commitMerge(merged.tree, [base, pull.prHead], 'test merge') : null;
        pull.seenBase = base;
      }),
    );
  };
  const notice = async (pull: Pull) => {
    if (pull.state !== 'open' || pull.reactionPending) return;
    const [head, base] = [await g.branchSha(pull.head), await g.branchSha(pull.base)];
    if ((head ?? pull.prHead) === pull.prHead && (base ?? pull.seenBase) === pull.seenBase) return;
    pull.reactionPending = true;
    work.after(pushReactionMs, async () => {
      pull.reactionPending = false;
      const [h, b] = [await g.branchSha(pull.head), await g.branchSha(pull.base)];
      if (h) pull.prHead = h;
      if (b) pull.seenBase = b;
      pull.mergeable = null;
      pull.mergeCommitSha = null;
      compute(pull);
    });
  };

  const simple = async (p: Pull) => ({
    url: `${baseUrl}/repos/${owner}/${repo}/pulls/${p.number}`,
    html_url: `https://github.invalid/${owner}/${repo}/pull/${p.number}`,
    number: p.number,
    state: p.state,
    title: p.title,
    body: p.body,
    created_at: p.createdAt,
    merged_at: p.mergedAt,
    merge_commit_sha: p.mergeCommitSha,
    draft: false,
    head: { label: `${owner}:${p.head}`, ref: p.head, sha: p.prHead },
    base: { label: `${owner}:${p.base}`, ref: p.base, sha: (await g.branchSha(p.base)) ?? p.seenBase },
  });
  const full = async (p: Pull) => ({
    ...(await simple(p)),
    merged: p.mergedAt !== null,
    mergeable: p.state === 'open' ? p.mergeable : null,
    mergeable_state: p.state !== 'open' || p.mergeable === null ? 'unknown' : p.mergeable ? 'clean' : 'dirty',
  });

  const createPull = async (body: Record<string, unknown>): Promise<Pull> => {
    const missing = ['title', 'head', 'base'].filter((f) => !String(body[f] ?? '').trim());
    if (missing.length > 0) throw validation(missing.map((field) => ({ resource: 'PullRequest', code: 'missing_field', field })));
    const head = String(body.head).replace(new RegExp(`^${owner}:`), '');
    const base = String(body.base);
    const [headSha, baseSha] = [await g.branchSha(head), await g.branchSha(base)];
    if (!baseSha) throw validation([{ resource: 'PullRequest', field: 'base', code: 'invalid' }]);
    if (!headSha) throw validation([{ resource: 'PullRequest', field: 'head', code: 'invalid' }]);
    if ((await g.git(['merge-base', '--is-ancestor', headSha, baseSha])).code === 0) {
      throw validation([{ resource: 'PullRequest', code: 'custom', message: `No commits between ${base} and ${head}` }]);
    }
    if ([...pulls.values()].some((p) => p.state === 'open' && p.head === head && p.base === base)) {
      throw validation([{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${owner}:${head}.` }]);
    }
    const pull: Pull = {
      number: nextNumber++,
      title: String(body.title),
      body: String(body.body ?? ''),
      head,
      base,
      state: 'open',
      mergedAt: null,
      mergeCommitSha: null,
      prHead: headSha,
      seenBase: baseSha,
      mergeable: null,
      computing: false,
      reactionPending: false,
      createdAt: new Date().toISOString(),
    };
    pulls.set(pull.number, pull);
    compute(pull);
    return pull;
  };

  const NOT_MERGEABLE = 'Pull Request is not mergeable';
  const mergePull = async (pull: Pull, body: Record<string, unknown>) => {
    if (pull.state !== 'open') throw new HttpError(405, NOT_MERGEABLE);
    const sha = body.sha === undefined ? '' : String(body.sha);
    if (sha && sha !== pull.prHead) throw new HttpError(409, 'Head branch was modified. Review and try the merge again.');
    if (pull.mergeable === false) throw new HttpError(405, NOT_MERGEABLE);
    const method = String(body.merge_method ?? 'merge');
    if (method !== 'merge') throw validation([{ resource: 'PullRequest', field: 'merge_method', code: 'invalid' }]);
    await hooks.mergeChecked?.(pull.number);
    const base = await g.branchSha(pull.base);
    if (!base) throw new HttpError(404, 'Not Found');
    const merged = await g.mergeTree(base, pull.prHead);
    if (!('tree' in merged)) {
      Object.assign(pull, { mergeable: false, mergeCommitSha: null, seenBase: base });
      throw new HttpError(405, NOT_MERGEABLE);
    }
    const title = String(body.commit_title ?? '').trim() || `Merge pull request #${pull.number} from ${owner}/${pull.head}`;
    const extra = String(body.commit_message ?? '').trim() || pull.title;
    const commit = await g.commitMerge(merged.tree, [base, pull.prHead], `${title}\n\n${extra}`);
    await hooks.beforePush?.(pull.number);
    if (!(await g.casUpdate(pull.base, commit, base))) throw new HttpError(405, 'Base branch was modified. Review and try the merge again.');
    Object.assign(pull, { state: 'closed', mergedAt: new Date().toISOString(), mergeCommitSha: commit });
    for (const other of pulls.values()) if (other.state === 'open' && other.base === pull.base) void notice(other);
    return commit;
  };

  const deleteRef = async (ref: string) => {
    const branch = ref.replace(/^heads\//, '');
    const sha = ref.startsWith('heads/') ? await g.branchSha(branch) : null;
    if (!sha) throw new HttpError(422, 'Reference does not exist');
    if (branch === defaultBranch || protectedBranches.has(branch)) throw new HttpError(422, 'Cannot delete this protected branch');
    await g.deleteRef(branch, sha);
  };

  const findPull = (raw: string): Pull => {
    const pull = /^\d+$/.test(raw) ? pulls.get(Number(raw)) : undefined;
    if (!pull) throw new HttpError(404, 'Not Found');
    return pull;
  };

  const route = async (method: string, segments: string[], query: URLSearchParams, body: unknown): Promise<Reply> => {
    const input = (body ?? {}) as Record<string, unknown>;
    const [kind, ...rest] = segments;
    if (kind === 'pulls') {
      if (rest.length === 0 && method === 'POST') return { status: 201, json: await full(await serially(() => createPull(input))) };
      if (rest.length === 0 && method === 'GET') {
        const perPage = Math.min(Math.max(1, Number(query.get('per_page') ?? 30)), maxPerPage);
        const page = Math.max(1, Number(query.get('page') ?? 1));
        const state = query.get('state') || 'open';
        const head = query.get('head');
        const base = query.get('base');
        const list = [...pulls.values()]
          .filter((p) => (state === 'all' || p.state === state) && (!head || `${owner}:${p.head}` === head) && (!base || p.base === base))
          .sort((a, b) => b.number - a.number);
        const slice = list.slice((page - 1) * perPage, page * perPage);
        for (const p of slice) await notice(p);
        const last = Math.max(1, Math.ceil(list.length / perPage));
        const link = (n: number) => {
          const q = new URLSearchParams(query);
          q.set('page', String(n));
          return `<${baseUrl}/repos/${owner}/${repo}/pulls?${q}>`;
        };
        const links = page < last ? [`${link(page + 1)}; rel="next"`, `${link(last)}; rel="last"`] : [];
        return { status: 200, json: await Promise.all(slice.map(simple)), headers: links.length ? { link: links.join(', ') } : {} };
      }
      if (rest.length === 1 && method === 'GET') {
        const pull = findPull(rest[0]!);
        await notice(pull);
        // A look at the PR starts the background job when no result is there.
        if (pull.mergeable === null && !pull.reactionPending) compute(pull);
        return { status: 200, json: await full(pull) };
      }
      if (rest.length === 1 && method === 'PATCH') {
        const pull = findPull(rest[0]!);
        if (input.state === 'closed' && pull.state === 'open') pull.state = 'closed';
        return { status: 200, json: await full(pull) };
      }
      if (rest.length === 2 && rest[1] === 'merge') {
        const pull = findPull(rest[0]!);
        if (method === 'PUT') {
          await hooks.mergeRequested?.(pull.number);
          await notice(pull);
          const sha = await serially(() => mergePull(pull, input));
          return { status: 200, json: { sha, merged: true, message: 'Pull Request successfully merged' } };
        }
        if (method === 'GET') return { status: pull.mergedAt ? 204 : 404 };
      }
    }
    if (kind === 'git' && rest[0] === 'refs' && rest.length >= 2 && method === 'DELETE') {
      await serially(() => deleteRef(rest.slice(1).join('/')));
      return { status: 204 };
    }
    throw new HttpError(404, 'Not Found');
  };

  let used = 0;
  const server = await serve(
    async ({ method, url, authorization, text }, root) => {
      baseUrl = root;
      const reset = Math.ceil(Date.now() / 1000) + 3600;
      const limitHeaders = (remaining: number, resetAt = reset) => ({
        'x-ratelimit-limit': '5000',
        'x-ratelimit-remaining': String(remaining),
        'x-ratelimit-used': String(5000 - remaining),
        'x-ratelimit-reset': String(resetAt),
        'x-ratelimit-resource': 'core',
      });
      try {
        const credential = /^(?:token|bearer)\s+(.+)$/i.exec(authorization ?? '')?.[1];
        if (credential !== token) throw new HttpError(401, 'Bad credentials');
        if (limited) {
          const { kind, seconds } = limited;
          limited = null;
          if (kind === 'secondary') {
            throw new HttpError(
              403,
              'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
              undefined,
              { 'retry-after': String(seconds), ...limitHeaders(4000) },
            );
          }
          throw new HttpError(403, 'API rate limit exceeded for user ID 1.', undefined, limitHeaders(0, Math.ceil(Date.now() / 1000) + seconds));
        }
        used++;
        let body: unknown;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          throw new HttpError(400, 'Problems parsing JSON');
        }
        const under = segmentsUnder(url, `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/`);
        if (!under) throw new HttpError(404, 'Not Found');
        const reply = await route(method, under.segments, under.query, body);
        return { ...reply, headers: { ...limitHeaders(Math.max(0, 5000 - used)), ...reply.headers } };
      } catch (err) {
        if (err instanceof HttpError) {
          return { status: err.status, json: err.json ?? { message: err.message, documentation_url: DOCS }, headers: err.headers };
        }
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
    mergeable: (n) => findPull(String(n)).mergeable,
    rateLimitNext: (kind, seconds) => {
      limited = { kind, seconds };
    },
    hold: () => work.hold(),
    settled: () => work.settled(),
    close: async () => {
      work.stop();
      await server.close();
    },
  };
}
