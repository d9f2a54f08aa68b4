// One orch instance for one benchmark (worker/harness/instance.ts, which the tests use too), on the
// bench's Temporal server and PostgreSQL: its own database, task queue, data dir, bare git remote
// and pipeline file; optionally an in-process worker and API, and worker processes
// (`node --import tsx worker/main.ts`). Each part is stopped by the bench's clean-up.
import { watch } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createBareRemote } from '../worker/bare-remote.js';
import type { PlaneConfig } from '../worker/config/env.js';
import { projectDir } from '../worker/config/project-dir.js';
import { createInstance, type WorkerProcess } from '../worker/harness/instance.js';
import { until } from '../worker/harness/until.js';
import { defer, ownChild, say, type Stack } from './stack.js';

export type { WorkerProcess };

export const stampAgentPath = path.join(projectDir, 'bench', 'agents', 'sigterm-stamp.mjs');

export interface PipelineParams {
  remote: string;
  stampDir: string;
}

export interface OrchEnvOptions {
  /** Short name: the database, queue and dir are derived from it. */
  name: string;
  /** The pipeline file's text. */
  pipeline: (p: PipelineParams) => string;
  /** Host id of an in-process worker; omit for none. */
  inProcessWorker?: string;
  /** An in-process API (on an ephemeral port); default true. */
  api?: boolean;
  plane?: Partial<PlaneConfig>;
  killGraceMs?: number;
}

export interface StampLine {
  event: 'ready' | 'sigterm';
  t: number;
  pid: number;
  host?: string | null;
  stage?: string | null;
  attempt?: number;
}

const stampDirOf = (dir: string) => path.join(dir, 'stamps');

export async function createOrchEnv(stack: Stack, o: OrchEnvOptions) {
  const instance = await createInstance({
    name: o.name,
    runDir: stack.runDir,
    servers: {
      temporalAddress: stack.temporalAddress,
      temporalNamespace: stack.namespace,
      pgServerUrl: stack.pgServerUrl,
      workflowBundlePath: stack.orchBundlePath,
      client: stack.client,
      nativeConnection: stack.nativeConnection,
    },
    // No pre-receive hook: the bench measures orch, not the tests' guard on the remote.
    remote: (dir) => createBareRemote(dir, { seed: { readme: '# bench\n', message: 'seed' } }),
    pipeline: async ({ dir, remote }) => {
      await mkdir(stampDirOf(dir), { recursive: true });
      return o.pipeline({ remote: remote.path, stampDir: stampDirOf(dir) });
    },
    databasePoolSize: 10,
    killGraceMs: o.killGraceMs ?? 3000,
    plane: o.plane,
    workers: () => (o.inProcessWorker ? [o.inProcessWorker] : []),
    api: o.api,
    log: (hostId, line) => say(`${o.name} worker ${hostId}: ${line}`),
    onSpawn: (hostId, child) => ownChild(`${o.name}: worker process ${hostId}`, child),
  });
  defer(`${o.name}: stop the instance (in-process workers, API, database pool)`, () => instance.close());
  const stampDir = stampDirOf(instance.dir);

  /** Polls the database every 50 ms (not the API, which a benchmark may not run) until the task's status is one of `want`. */
  const waitForStatus = (key: string, want: readonly string[], timeoutMs: number) =>
    until(`task ${key} to be ${want.join('|')}`, async () => {
      const s = await instance.taskStatus(key);
      return s && want.includes(s) ? s : null;
    }, timeoutMs, 50);

  /** The lines a bench agent stamped for task `key`. */
  const stamps = async (key: string): Promise<StampLine[]> => {
    const text = await readFile(path.join(stampDir, `${key}.jsonl`), 'utf8').catch(() => '');
    const out: StampLine[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as StampLine);
      } catch {
        // a line still being written
      }
    }
    return out;
  };

  /**
   * The first of `key`'s stamps that `match` accepts, read again on each change to the stamp dir
   * (inotify): a bench that timed orch's path polling files beside it every few ms would be adding
   * its own work to what it measures.
   */
  const stampWhen = (key: string, match: (s: StampLine) => boolean, timeoutMs: number) =>
    new Promise<StampLine>((resolve, reject) => {
      let reading = false;
      let again = false;
      const done = (err: Error | null, s?: StampLine) => {
        clearTimeout(timer);
        watcher.close();
        if (err) reject(err);
        else resolve(s!);
      };
      const look = async (): Promise<void> => {
        if (reading) return void (again = true);
        reading = true;
        try {
          const found = (await stamps(key)).find(match);
          if (found) return done(null, found);
        } catch (err) {
          return done(err as Error);
        } finally {
          reading = false;
        }
        if (again) {
          again = false;
          return look();
        }
      };
      // Watching first, then reading: a stamp written in between is seen either way.
      const watcher = watch(stampDir, () => void look());
      const timer = setTimeout(() => done(new Error(`no matching stamp for ${key} within ${timeoutMs} ms`)), timeoutMs);
      void look();
    });

  /** How many tasks have a `ready` stamp (cheap: counts stamp files). */
  const readyCount = async () => (await readdir(stampDir)).filter((f) => f.endsWith('.jsonl')).length;

  return {
    ...instance,
    stampDir,
    /** A worker in its own process (so it can be SIGKILLed, or its RSS read). Resolves once it polls. */
    spawnWorker: (hostId: string, timeoutMs = 60_000) => instance.spawnWorker(hostId, {}, timeoutMs),
    waitForStatus,
    stamps,
    stampWhen,
    readyCount,
  };
}
export type OrchEnv = Awaited<ReturnType<typeof createOrchEnv>>;

/** A pipeline file: one repo, the given agent and stages. */
export function pipelineYaml(o: {
  remote: string;
  agent: { command: string; args: string[] };
  heartbeat: string;
  stage?: string;
  maxConcurrentAgents?: number;
  attempts?: number;
  /** `agent`: the stage's own agent instead of the pipeline's. */
  stages: { name: string; gate?: string; kind?: 'approval'; agent?: { command: string; args: string[] } }[];
  /** The sandbox section; the agents of the benches write their stamps outside the worktree, so they name that dir writable. */
  sandbox?: { mode?: 'auto' | 'bwrap' | 'none'; writable?: string[] };
}): string {
  const stages = o.stages
    .map((s) =>
      s.kind === 'approval'
        ? `  - { name: ${s.name}, kind: approval }`
        : `  - name: ${s.name}\n    prompt: "bench {{key}} {{stage}}"\n    gate: { type: file-exists, path: ${JSON.stringify(s.gate ?? 'docs/tasks/{{key}}/{{stage}}.md')} }` +
          (s.agent ? `\n    agent: { command: ${JSON.stringify(s.agent.command)}, args: ${JSON.stringify(s.agent.args)} }` : ''),
    )
    .join('\n');
  return `# generated by bench/orch-env.ts
agent:
  command: ${JSON.stringify(o.agent.command)}
  args: ${JSON.stringify(o.agent.args)}
timeouts: { stage: ${o.stage ?? '10m'}, heartbeat: ${o.heartbeat}, merge: 2m, deploy: 2m }
attemptsPerStage: ${o.attempts ?? 1}
maxConcurrentAgents: ${o.maxConcurrentAgents ?? 8}
sandbox: ${JSON.stringify(o.sandbox ?? {})}
repos:
  demo:
    remote: ${JSON.stringify(o.remote)}
    defaultBranch: main
    forge: { type: local }
stages:
${stages}
`;
}
