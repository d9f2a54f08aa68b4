// A local stand-in for the few Gitea API v1 endpoints orch uses, backed by a real bare git
// repository: merging really merges (git merge-tree + commit-tree + a compare-and-swap
// update-ref). Statuses and JSON shapes follow Gitea's API:
//   POST   /api/v1/repos/{o}/{r}/pulls                  201 | 409 open PR exists | 422 head = base | 404 no branch
//   GET    /api/v1/repos/{o}/{r}/pulls?state=&page=&limit=
//   GET    /api/v1/repos/{o}/{r}/pulls/{n}              200 | 404
//   GET    /api/v1/repos/{o}/{r}/pulls/{base}/{head}    200 | 404
//   POST   /api/v1/repos/{o}/{r}/pulls/{n}/merge        200 | 405 merged or not mergeable | 409 conflict | 404
//   GET    /api/v1/repos/{o}/{r}/pulls/{n}/merge        204 merged | 404
//   DELETE /api/v1/repos/{o}/{r}/branches/{b}           204 | 404 | 403 default or protected
// Every request needs `Authorization: token <token>` (or `Bearer`), else 401.

import { execa } from 'execa';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GiteaStandinOptions {
  token: string;
  owner: string;
  repo: string;
  bareRepoPath: string;
  defaultBranch?: string;
  /** Exact branch names Gitea treats as protected (403 on delete). */
  protectedBranches?: string[];
}

export interface RecordedRequest {
  method: string;
  /** The raw request path, query included, as sent (percent-encoding kept). */
  url: string;
  authorization: string | null;
  body: unknown;
  status: number;
}

export interface GiteaStandin {
  baseUrl: string;
  requests: RecordedRequest[];
  /** Makes PR `number` answer merges with 405 "Please try again later" (checks still running). */
  setMergeable(number: number, mergeable: boolean): void;
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
  headShaAtClose: string | null;
  mergeable: boolean;
  createdAt: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startGiteaStandin(options: GiteaStandinOptions): Promise<GiteaStandin> {
  const { token, owner, repo, bareRepoPath } = options;
  const defaultBranch = options.defaultBranch ?? 'main';
  const protectedBranches = new Set(options.protectedBranches ?? []);
  const requests: RecordedRequest[] = [];
  const pulls = new Map<number, Pull>();
  let nextNumber = 1;
  let baseUrl = '';
  // Git work is serialised, as Gitea does per repository.
  let gitChain: Promise<unknown> = Promise.resolve();
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = gitChain.then(fn, fn);
    gitChain = run.catch(() => undefined);
    return run;
  };

  const git = async (args: string[], env: Record<string, string> = {}) => {
    const res = await execa('git', args, { cwd: bareRepoPath, env: { LC_ALL: 'C', ...env }, reject: false });
    return { code: res.exitCode ?? -1, out: res.stdout.trim(), err: res.stderr.trim() };
  };
  const branchSha = async (branch: string): Promise<string | null> => {
    const r = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]);
    return r.code === 0 ? r.out : null;
  };

  const toJson = async (p: Pull) => {
    const headSha = p.headShaAtClose ?? (await branchSha(p.head)) ?? '';
    const baseSha = (await branchSha(p.base)) ?? '';
    return {
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
      mergeable: p.mergeable && p.state === 'open',
      created_at: p.createdAt,
      head: { label: p.head, ref: p.head, sha: headSha },
      base: { label: p.base, ref: p.base, sha: baseSha },
    };
  };

  const createPull = async (body: Record<string, unknown>) => {
    const head = String(body.head ?? '');
    const base = String(body.base ?? '');
    if (!head || !base) throw new HttpError(422, 'head and base are required');
    if (head === base) throw new HttpError(422, 'Invalid PullRequest: There are no changes between the head and the base');
    if (!(await branchSha(head)) || !(await branchSha(base))) throw new HttpError(404, 'The target couldn\'t be found.');
    const existing = [...pulls.values()].find((p) => p.state === 'open' && p.head === head && p.base === base);
    if (existing) {
      throw new HttpError(
        409,
        `pull request already exists for these targets [id: ${existing.number}, issue_id: ${existing.number}, head_repo_id: 1, base_repo_id: 1, head_branch: ${head}, base_branch: ${base}]`,
      );
    }
    const pull: Pull = {
      number: nextNumber++,
      title: String(body.title ?? ''),
      body: String(body.body ?? ''),
      head,
      base,
      state: 'open',
      merged: false,
      mergedAt: null,
      mergeCommitSha: null,
      headShaAtClose: null,
      mergeable: true,
      createdAt: new Date().toISOString(),
    };
    pulls.set(pull.number, pull);
    return pull;
  };

  const mergePull = async (pull: Pull, body: Record<string, unknown>) => {
    if (pull.merged) throw new HttpError(405, '');
    if (pull.state === 'closed') throw new HttpError(404, 'The target couldn\'t be found.');
    if (!pull.mergeable) throw new HttpError(405, 'Please try again later');
    const style = String(body.Do ?? 'merge');
    if (style !== 'merge') throw new HttpError(405, `${style} is not allowed an allowed merge style for this repository`);

    const baseSha = await branchSha(pull.base);
    const headSha = await branchSha(pull.head);
    if (!baseSha || !headSha) throw new HttpError(404, 'The target couldn\'t be found.');
    const tree = await git(['merge-tree', '--write-tree', baseSha, headSha]);
    if (tree.code === 1) throw new HttpError(409, 'Merge Conflict: merging would conflict');
    if (tree.code !== 0) throw new Error(`git merge-tree failed: ${tree.err}`);
    const title =
      String(body.MergeTitleField ?? '').trim() ||
      `Merge pull request '${pull.title}' (#${pull.number}) from ${pull.head} into ${pull.base}`;
    const extra = String(body.MergeMessageField ?? '').trim();
    const message = extra ? `${title}\n\n${extra}` : title;
    const identity = {
      GIT_AUTHOR_NAME: 'gitea-standin',
      GIT_AUTHOR_EMAIL: 'standin@gitea.invalid',
      GIT_COMMITTER_NAME: 'gitea-standin',
      GIT_COMMITTER_EMAIL: 'standin@gitea.invalid',
    };
    const treeOid = tree.out.split('\n')[0] ?? '';
    const commit = await git(['commit-tree', treeOid, '-p', baseSha, '-p', headSha, '-m', message], identity);
    if (commit.code !== 0) throw new Error(`git commit-tree failed: ${commit.err}`);
    // Compare-and-swap: fails if the base moved since we read it (Gitea answers 409 then).
    const update = await git(['update-ref', `refs/heads/${pull.base}`, commit.out, baseSha]);
    if (update.code !== 0) throw new HttpError(409, 'merge push out of date');
    Object.assign(pull, {
      merged: true,
      state: 'closed',
      mergedAt: new Date().toISOString(),
      mergeCommitSha: commit.out,
      headShaAtClose: headSha,
    });
  };

  const deleteBranch = async (branch: string) => {
    if (branch === defaultBranch) throw new HttpError(403, 'can not delete default branch');
    if (protectedBranches.has(branch)) throw new HttpError(403, 'branch protected');
    const sha = await branchSha(branch);
    if (!sha) throw new HttpError(404, 'The target couldn\'t be found.');
    const r = await git(['update-ref', '-d', `refs/heads/${branch}`, sha]);
    if (r.code !== 0) throw new Error(`git update-ref -d failed: ${r.err}`);
  };

  const findPull = (raw: string): Pull => {
    const pull = /^\d+$/.test(raw) ? pulls.get(Number(raw)) : undefined;
    if (!pull) throw new HttpError(404, 'The target couldn\'t be found.');
    return pull;
  };

  type Reply = { status: number; json?: unknown };

  const route = async (method: string, segments: string[], query: URLSearchParams, body: unknown): Promise<Reply> => {
    const input = (body ?? {}) as Record<string, unknown>;
    const [kind, ...rest] = segments;
    if (kind === 'pulls') {
      if (rest.length === 0 && method === 'POST') {
        const pull = await serially(() => createPull(input));
        return { status: 201, json: await toJson(pull) };
      }
      if (rest.length === 0 && method === 'GET') {
        const state = query.get('state') ?? 'open';
        const limit = Math.max(1, Number(query.get('limit') ?? 30));
        const page = Math.max(1, Number(query.get('page') ?? 1));
        const all = [...pulls.values()]
          .filter((p) => state === 'all' || p.state === state)
          .sort((a, b) => b.number - a.number)
          .slice((page - 1) * limit, page * limit);
        return { status: 200, json: await Promise.all(all.map(toJson)) };
      }
      if (rest.length === 1 && method === 'GET') return { status: 200, json: await toJson(findPull(rest[0]!)) };
      if (rest.length === 2 && rest[1] === 'merge' && /^\d+$/.test(rest[0]!)) {
        const pull = findPull(rest[0]!);
        if (method === 'POST') {
          await serially(() => mergePull(pull, input));
          return { status: 200 };
        }
        if (method === 'GET') return { status: pull.merged ? 204 : 404 };
      }
      if (rest.length >= 2 && method === 'GET') {
        const [base, ...headParts] = rest;
        const head = headParts.join('/');
        const match = [...pulls.values()]
          .filter((p) => p.base === base && p.head === head)
          .sort((a, b) => b.number - a.number)[0];
        if (!match) throw new HttpError(404, 'The target couldn\'t be found.');
        return { status: 200, json: await toJson(match) };
      }
    }
    if (kind === 'branches' && rest.length >= 1 && method === 'DELETE') {
      await serially(() => deleteBranch(rest.join('/')));
      return { status: 204 };
    }
    throw new HttpError(404, 'not found');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const rawUrl = req.url ?? '/';
    const authorization = req.headers.authorization ?? null;
    const text = await readBody(req);
    let body: unknown = undefined;
    let reply: Reply;
    try {
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        throw new HttpError(422, 'invalid JSON body');
      }
      const credential = /^(?:token|bearer)\s+(.+)$/i.exec(authorization ?? '')?.[1];
      if (credential !== token) throw new HttpError(401, 'token is required');

      const [rawPath = '', rawQuery = ''] = rawUrl.split('?', 2);
      const prefix = `/api/v1/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/`;
      if (!rawPath.startsWith(prefix)) throw new HttpError(404, 'not found');
      // Split first, then decode: an encoded `/` (%2F) stays inside its segment.
      const segments = rawPath.slice(prefix.length).split('/').filter(Boolean).map(decodeURIComponent);
      reply = await route(method, segments, new URLSearchParams(rawQuery), body);
    } catch (err) {
      reply =
        err instanceof HttpError
          ? { status: err.status, json: { message: err.message, url: `${baseUrl}/api/swagger` } }
          : { status: 500, json: { message: err instanceof Error ? err.message : String(err) } };
    }
    requests.push({ method, url: rawUrl, authorization, body, status: reply.status });
    if (reply.json === undefined) {
      res.writeHead(reply.status).end();
    } else {
      res.writeHead(reply.status, { 'Content-Type': 'application/json;charset=utf-8' }).end(JSON.stringify(reply.json));
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    baseUrl,
    requests,
    setMergeable(number, mergeable) {
      const pull = pulls.get(number);
      if (!pull) throw new Error(`no pull request #${number}`);
      pull.mergeable = mergeable;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
