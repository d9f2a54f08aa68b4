// What the Gitea and GitHub stand-ins share: real git on a bare repository (merges are made with
// git merge-tree + commit-tree and land with a compare-and-swap update-ref, as a server's push
// would), a background queue for the work real servers do asynchronously (mergeability checks,
// reacting to pushes) that tests can hold, and the HTTP plumbing.
import { execa } from 'execa';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** The raw request path, query included, as sent (percent-encoding kept). */
  url: string;
  authorization: string | null;
  body: unknown;
  status: number;
  /** The JSON answered, if any. */
  response?: unknown;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The JSON body to answer instead of the server's usual `{ message }`. */
    readonly json?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface Reply {
  status: number;
  json?: unknown;
  headers?: Record<string, string>;
}

// ------------------------------------------------------------------------------------------ git

const IDENTITY = {
  GIT_AUTHOR_NAME: 'forge-standin',
  GIT_AUTHOR_EMAIL: 'standin@forge.invalid',
  GIT_COMMITTER_NAME: 'forge-standin',
  GIT_COMMITTER_EMAIL: 'standin@forge.invalid',
};

export function bareGit(bareRepoPath: string) {
  const git = async (args: string[], env: Record<string, string> = {}) => {
    const res = await execa('git', args, { cwd: bareRepoPath, env: { LC_ALL: 'C', ...env }, reject: false });
    return { code: res.exitCode ?? -1, out: res.stdout.trim(), err: res.stderr.trim() };
  };
  const branchSha = async (branch: string): Promise<string | null> => {
    const r = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]);
    return r.code === 0 ? r.out : null;
  };
  /** The merge of `head` into `base` as git computes it: its tree, or the conflicting files and git's messages. */
  const mergeTree = async (base: string, head: string): Promise<{ tree: string } | { conflicts: string[]; messages: string }> => {
    const r = await git(['merge-tree', '--write-tree', base, head]);
    if (r.code === 0) return { tree: r.out.split('\n')[0]! };
    if (r.code !== 1) throw new Error(`git merge-tree failed: ${r.err}`);
    // Output: tree id, conflicted file info lines ("<mode> <oid> <stage>\t<path>"), a blank line, messages.
    const [files = '', ...messages] = r.out.split('\n\n');
    const conflicts = [...new Set(files.split('\n').slice(1).map((l) => l.split('\t')[1] ?? '').filter(Boolean))];
    return { conflicts, messages: messages.join('\n\n') };
  };
  const commitMerge = async (tree: string, parents: string[], message: string): Promise<string> => {
    const r = await git(['commit-tree', tree, ...parents.flatMap((p) => ['-p', p]), '-m', message], IDENTITY);
    if (r.code !== 0) throw new Error(`git commit-tree failed: ${r.err}`);
    return r.out;
  };
  /** Moves `branch` from `expected` to `sha`; false when it is no longer at `expected`. */
  const casUpdate = async (branch: string, sha: string, expected: string): Promise<boolean> =>
    (await git(['update-ref', `refs/heads/${branch}`, sha, expected])).code === 0;
  const deleteRef = async (branch: string, expected: string): Promise<void> => {
    const r = await git(['update-ref', '-d', `refs/heads/${branch}`, expected]);
    if (r.code !== 0) throw new Error(`git update-ref -d failed: ${r.err}`);
  };
  return { git, branchSha, mergeTree, commitMerge, casUpdate, deleteRef };
}

// ---------------------------------------------------------------------------------- background

/**
 * The server's asynchronous work: each job runs after its delay, in order, one at a time. While
 * held, due jobs wait; `release` runs them. `settled` resolves when nothing is pending.
 */
export function background() {
  let held = 0;
  const due: (() => Promise<void>)[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let chain: Promise<void> = Promise.resolve();
  let running = 0;
  const drain = () => {
    while (held === 0 && due.length > 0) {
      const job = due.shift()!;
      running++;
      chain = chain.then(job).catch(() => undefined).finally(() => running--);
    }
  };
  return {
    after(ms: number, job: () => Promise<void>) {
      const t = setTimeout(() => {
        timers.delete(t);
        due.push(job);
        drain();
      }, ms);
      timers.add(t);
    },
    /** Holds every job until the returned release is called. */
    hold(): () => void {
      held++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        held--;
        drain();
      };
    },
    async settled(): Promise<void> {
      while (timers.size > 0 || due.length > 0 || running > 0) {
        if (held > 0 && timers.size === 0 && running === 0) throw new Error('background work is held: release it first');
        await new Promise((r) => setTimeout(r, 5));
        await chain;
      }
    },
    stop() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      due.length = 0;
    },
  };
}

/** Serialises `fn`s, as a server serialises git work on one repository. */
export function serialiser() {
  let chain: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => undefined);
    return run;
  };
}

// ----------------------------------------------------------------------------------------- http

export async function serve(
  handle: (req: { method: string; url: string; authorization: string | null; text: string }, baseUrl: string) => Promise<Reply>,
  record: (r: RecordedRequest) => void,
): Promise<{ baseUrl: string; close(): Promise<void> }> {
  let baseUrl = '';
  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const authorization = req.headers.authorization ?? null;
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    const reply = await handle({ method, url, authorization, text }, baseUrl);
    const headers = { ...(reply.json === undefined ? {} : { 'Content-Type': 'application/json; charset=utf-8' }), ...reply.headers };
    res.writeHead(reply.status, headers).end(reply.json === undefined ? undefined : JSON.stringify(reply.json));
    record({ method, url, authorization, body, status: reply.status, ...(reply.json === undefined ? {} : { response: reply.json }) });
  };
  const server = createServer((req, res) => {
    onRequest(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** Splits a raw path under `prefix` into decoded segments (an encoded `/` stays inside its segment). */
export function segmentsUnder(rawUrl: string, prefix: string): { segments: string[]; query: URLSearchParams } | null {
  const [rawPath = '', rawQuery = ''] = rawUrl.split('?', 2);
  if (!rawPath.startsWith(prefix)) return null;
  return { segments: rawPath.slice(prefix.length).split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(rawQuery) };
}
