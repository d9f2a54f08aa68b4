// The agent sandbox's acceptance (issue 12, items 1-5) on the real stack, for any agent that can be
// told to run shell commands: the scripted test agent here (test/integration/sandbox.test.ts), the
// real CLIs against the scripted model elsewhere. Each check is made by the agent itself (what it
// printed) and from outside (/proc, the data dir, the remote, the mirror).
import { readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirrorPath } from '../../activities/adapters/git.js';
import type { WorkerProcess } from '../../worker/harness/instance.js';
import { createTestEnv, type TestEnv } from './env.js';
import { branchSha, gitIn } from './git-fixtures.js';
import { appears, goneWithin, processesWith } from './proc.js';

export interface SandboxedAgent {
  name: string;
  /** The pipeline's `agent:` section; it must let the worker variables in `passEnv` through. */
  agentYaml: (passEnv: string[]) => string;
  /**
   * A task description that has the agent run `commands` (sh command lines) with its shell tool, in
   * order, in the `development` stage. `hang`: then keep running (`always`), or only on attempt 1.
   */
  script: (commands: string[], opts?: { hang?: 'always' | 'first-attempt' }) => string;
  /** Pids of the agent process itself (not its guard, bwrap or children) running for task `key`. */
  agentPids: (key: string) => number[];
  /** What the agent's commands printed, from its log (an agent with events logs a transcript). */
  outputOf?: (log: string) => string;
}

/** The scripted test agent (bin/test-agent.mjs) and its `@agent-sh` lines. */
export const TEST_AGENT: SandboxedAgent = {
  name: 'the scripted test agent',
  agentYaml: (passEnv) => `agent:
  command: node
  args: ["{{projectDir}}/bin/test-agent.mjs", "--stage", "{{stage}}"]
  passEnv: ${JSON.stringify(passEnv)}
`,
  script: (commands, { hang } = {}) => {
    const lines = commands.map((c) => `@agent-sh=development ${c}`);
    if (hang === 'always') lines.push('@agent-sh=development exec sleep 100000');
    if (hang === 'first-attempt') lines.push('@agent-sh=development [ "$ORCH_ATTEMPT" != 1 ] || exec sleep 100000');
    return lines.join('\n');
  },
  agentPids: (key) =>
    processesWith('bin/test-agent.mjs')
      .filter((p) => /^\S*node /.test(p.cmdline) && !p.cmdline.includes('agent-guard.mjs') && environOf(p.pid).includes(`ORCH_TASK_KEY=${key}`))
      .map((p) => p.pid),
};

function environOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** A marker that appears whole only in the command line of the process that carries it. */
function marker() {
  const tail = randomBytes(6).toString('hex');
  return { whole: `orch-sbx-${tail}`, inScript: `"orch-sbx-""${tail}"` };
}

/** A process in a session (and process group) of its own, as Claude Code's Bash tool makes them. */
const ownSession = (m: ReturnType<typeof marker>) => `setsid node -e "setInterval(() => {}, 1e6)" ${m.inScript} &`;

/** `echo` of a word the command text does not contain whole (the transcript quotes the commands). */
const say = (word: string) => `echo "${word.slice(0, 3)}""${word.slice(3)}"`;

const CANARIES = {
  GITEA_TOKEN: 'canary-gitea-token-7f3a',
  PLANE_API_KEY: 'canary-plane-api-key-1c9e',
  PLANE_WEBHOOK_SECRET: 'canary-plane-webhook-secret-42d0',
  ORCH_API_TOKEN: 'canary-orch-api-token-88b1',
  SOME_SECRET: 'canary-some-secret-5e6f',
};
const PASSED = { ORCH_TEST_PASSED: 'passed-through-by-passEnv-31c4' };

const pipeline = (agent: SandboxedAgent, sandbox: string, gate = '{ type: file-exists, path: "docs/tasks/{{key}}/development.md" }') => `${agent.agentYaml(Object.keys(PASSED))}
timeouts: { stage: 5m, heartbeat: 3s, merge: 2m, deploy: 2m }
attemptsPerStage: 2
maxConcurrentAgents: 8
sandbox: ${sandbox}
stages:
  - name: development
    prompt: "{{key}}: {{title}}\\n\\n{{description}}"
    gate: ${gate}
  - { name: merge, kind: merge }
`;

const rawLogOf = (env: TestEnv, key: string, attempt = 1) => readFile(path.join(env.dataDir, 'logs', 'tasks', key, `development-${attempt}.log`), 'utf8');

/**
 * `only: 'processes'` runs the worker-process part (items 1-3 and 7); the network and unsandboxed
 * parts need an agent that runs without a model (a loopback-less sandbox cuts a CLI off its API).
 */
export function sandboxAcceptance(agent: SandboxedAgent, o: { only?: 'processes' } = {}): void {
  const logOf = async (env: TestEnv, key: string, attempt = 1) => {
    const log = await rawLogOf(env, key, attempt);
    return agent.outputOf ? agent.outputOf(log) : log;
  };
  describe(`the agent sandbox, with ${agent.name}`, () => {
    describe('processes, secrets and reach (a worker process with canaries in its environment)', () => {
      let env: TestEnv;
      let worker: WorkerProcess;
      const host = () => `${env.id.slice(0, 10)}-w`;
      beforeAll(async () => {
        env = await createTestEnv('sandbox', { worker: false, killGraceMs: 1000, pipeline: pipeline(agent, '{ mode: auto }') });
        worker = await env.spawnWorker(host(), { ...CANARIES, ...PASSED });
      });
      afterAll(async () => env?.cleanup());

      const start = async (key: string, description: string) => {
        const res = await env.api('POST', '/api/tasks', { key, repo: 'demo', title: `sandbox ${key}`, description });
        expect(res.status).toBeLessThan(300);
      };

      it('reports the host sandboxed in /healthz', async () => {
        const health = await env.api('GET', '/healthz');
        expect(health.body.sandbox.hosts).toContainEqual(expect.objectContaining({ host: host(), active: true, mode: 'bwrap', network: 'host' }));
        expect(health.body.sandbox.warning).toBeUndefined();
        expect(await readFile(worker.logFile, 'utf8')).toContain('agents and gates run in a bwrap sandbox (network: host)');
      });

      it('STOP via the API: no process of the run is alive within 10 s, its own-session child included', async () => {
        const m = marker();
        await start('SBX-STOP', agent.script([ownSession(m)], { hang: 'always' }));
        await appears(m.whole, 60_000);
        expect((await env.api('POST', '/api/tasks/SBX-STOP/stop', { reason: 'sandbox test' })).status).toBe(202);
        expect(await goneWithin(m.whole, 10_000)).toEqual([]);
        expect(agent.agentPids('SBX-STOP')).toEqual([]);
        expect((await env.waitForStatus('SBX-STOP')).task.status).toBe('cancelled');
      });

      it('SIGKILL of the agent: nothing of the run survives, the attempt is retried and the task finishes done', async () => {
        const m = marker();
        await start('SBX-KILL', agent.script([`[ "$ORCH_ATTEMPT" != 1 ] || ${ownSession(m)}`], { hang: 'first-attempt' }));
        await appears(m.whole, 60_000);
        const pids = agent.agentPids('SBX-KILL');
        expect(pids).toHaveLength(1);
        process.kill(pids[0]!, 'SIGKILL');
        expect(await goneWithin(m.whole, 10_000)).toEqual([]);
        const done = await env.waitForStatus('SBX-KILL');
        expect(done.task.status).toBe('done');
        expect(done.jobs.filter((j: any) => j.stage === 'development').map((j: any) => j.status)).toEqual(['failed', 'done']);
        // Item 7: the host's mirror keeps no ref of a task that ended done.
        const mirror = mirrorPath(path.join(env.dataDir, 'hosts', host(), 'mirrors'), env.remote.path);
        expect(await gitIn(mirror, 'for-each-ref', '--format=%(refname)')).not.toContain('SBX-KILL');
      });

      it('canary secrets in the worker\'s environment appear nowhere the agent can look; a passEnv variable does', async () => {
        const dataDirList = `ls -AR ${env.dataDir} | sed 's/^/ls:/'`;
        await start('SBX-ENV', agent.script(['env | sed "s/^/env:/"', 'cat /proc/*/environ | tr "\\0" "\\n" | sed "s/^/proc:/"', dataDirList]));
        expect((await env.waitForStatus('SBX-ENV')).task.status).toBe('done');
        const log = await logOf(env, 'SBX-ENV');
        const databaseUrl = env.databaseUrl;
        for (const value of [...Object.values(CANARIES), databaseUrl]) expect(log).not.toContain(value);
        expect(log).toContain(`env:ORCH_TEST_PASSED=${PASSED.ORCH_TEST_PASSED}`);
        expect(log).toContain(`proc:ORCH_TEST_PASSED=${PASSED.ORCH_TEST_PASSED}`);
        // The data dir as the agent sees it: its own worktree, HOME, TMPDIR and prompt, the borrowed
        // objects; no logs, artefacts, status files or other tasks.
        const listing = (dir: string) => {
          const at = log.indexOf(`ls:${dir}:\n`);
          return at < 0 ? null : log.slice(at).split('\n').slice(1).map((l) => l.slice(3)).filter((l, i, all) => all.slice(0, i + 1).every(Boolean));
        };
        const hostDir = path.join(env.dataDir, 'hosts', host());
        expect(listing(env.dataDir)).toEqual(['hosts']);
        expect(listing(path.join(env.dataDir, 'hosts'))).toEqual([host()]);
        expect(listing(hostDir)).toEqual(['homes', 'mirrors', 'prompts', 'tmp', 'worktrees']);
        for (const dir of ['homes', 'prompts', 'tmp', 'worktrees']) expect(listing(path.join(hostDir, dir))).toEqual(['SBX-ENV']);
        expect(log).not.toContain('sandbox.json');
      });

      it('the agent cannot write orch\'s data dir, the remote, the mirror or another running task\'s worktree; its task still ends done', async () => {
        const other = marker();
        await start('SBX-OTHER', agent.script([ownSession(other)], { hang: 'always' }));
        await appears(other.whole, 60_000);
        const hostDir = path.join(env.dataDir, 'hosts', host());
        const mirror = mirrorPath(path.join(hostDir, 'mirrors'), env.remote.path);
        const otherWorktree = path.join(hostDir, 'worktrees', 'SBX-OTHER');
        const remoteConfig = await readFile(path.join(env.remote.path, 'config'), 'utf8');
        const attempts = [
          `touch ${env.dataDir}/planted`,
          `echo "[alias] x = !touch /tmp/x" >> ${env.remote.path}/config`,
          `git push ${env.remote.path} HEAD:refs/heads/planted`,
          `git push ${env.remote.path} HEAD:refs/heads/orch/SBX-OTHER`,
          `git --git-dir=${mirror} update-ref refs/heads/orch/SBX-OTHER HEAD`,
          `touch ${mirror}/objects/planted`,
          `touch ${otherWorktree}/planted`,
        ];
        await start('SBX-REACH', agent.script(attempts.map((c, i) => `${c} && ${say(`ESCAPED-${i}`)} || ${say(`BLOCKED-${i}`)}`)));
        const done = await env.waitForStatus('SBX-REACH');
        expect(done.task.status).toBe('done');
        const log = await logOf(env, 'SBX-REACH');
        for (let i = 0; i < attempts.length; i++) {
          expect(log).toContain(`BLOCKED-${i}`);
          expect(log).not.toContain(`ESCAPED-${i}`);
        }
        // And from outside: nothing changed.
        await expect(readFile(path.join(env.dataDir, 'planted'))).rejects.toThrow();
        expect(await readFile(path.join(env.remote.path, 'config'), 'utf8')).toBe(remoteConfig);
        expect(await branchSha(env.remote.path, 'planted')).toBeNull();
        expect(await branchSha(env.remote.path, 'orch/SBX-OTHER')).toBeNull();
        expect(await gitIn(mirror, 'for-each-ref', '--format=%(refname)', 'refs/heads')).toBe('');
        await expect(readFile(path.join(mirror, 'objects', 'planted'))).rejects.toThrow();
        await expect(readFile(path.join(otherWorktree, 'planted'))).rejects.toThrow();

        expect((await env.api('POST', '/api/tasks/SBX-OTHER/stop', {})).status).toBe(202);
        expect((await env.waitForStatus('SBX-OTHER')).task.status).toBe('cancelled');
        expect(await goneWithin(other.whole, 10_000)).toEqual([]);
        // Item 7: nor of one that was cancelled; and its private HOME is gone too.
        expect(await gitIn(mirror, 'for-each-ref', '--format=%(refname)')).not.toContain('SBX-OTHER');
        await expect(readFile(path.join(hostDir, 'homes', 'SBX-OTHER'))).rejects.toThrow(/ENOENT/);
      });

      it('SIGKILL of the worker: no process of the run is alive within 10 s', async () => {
        const m = marker();
        await start('SBX-WORKER', agent.script([ownSession(m)], { hang: 'always' }));
        await appears(m.whole, 60_000);
        worker.kill('SIGKILL');
        await worker.exited;
        expect(await goneWithin(m.whole, 10_000)).toEqual([]);
        expect(agent.agentPids('SBX-WORKER')).toEqual([]);
        await env.client.workflow.getHandle('task-SBX-WORKER').terminate('sandbox test done');
      });
    });

    if (o.only === 'processes') return;

    it('network none: a loopback connection to orch\'s API port is refused, from the agent and from a gate', async () => {
      const env = await createTestEnv('sbxnet', {
        killGraceMs: 1000,
        pipeline: pipeline(
          agent,
          '{ mode: auto, network: none }',
          // The agent leaves the port in port.txt; the gate passes only when its connection is refused.
          `{ type: command, command: node, args: ["-e", "require('net').connect(Number(require('fs').readFileSync('port.txt', 'utf8')), '127.0.0.1').on('connect', () => process.exit(1)).on('error', (e) => { console.log(e.code); process.exit(e.code === 'ECONNREFUSED' ? 0 : 1) })"] }`,
        ),
      });
      try {
        const port = Number(new URL(env.apiUrl).port);
        const probe = `node -e "require('net').connect(${port}, '127.0.0.1').on('connect', () => console.log('CONN' + 'ECTED')).on('error', (e) => console.log('REFUSED ' + e.code))"`;
        await env.api('POST', '/api/tasks', { key: 'SBX-NET', repo: 'demo', title: `connect to ${port}`, description: agent.script([probe, `echo ${port} > port.txt`]) });
        const done = await env.waitForStatus('SBX-NET');
        expect(done.task.status).toBe('done');
        // The gate passes only when its connection is refused (with network host it fails the task).
        const log = await logOf(env, 'SBX-NET');
        expect(log).toContain('REFUSED ECONNREFUSED');
        expect(log).not.toContain('CONNECTED');
        // The same API answers from outside the sandbox.
        expect((await env.api('GET', '/healthz')).body.sandbox.hosts[0]).toMatchObject({ active: true, network: 'none' });
      } finally {
        await env.cleanup();
      }
    });

    describe('unsandboxed, as documented', () => {
      it('mode none: runs unsandboxed, warns at start-up and in /healthz', async () => {
        const env = await createTestEnv('sbxnone', { worker: false, pipeline: pipeline(agent, '{ mode: none }') });
        try {
          const worker = await env.spawnWorker(`${env.id.slice(0, 10)}-n`);
          const warning = 'agents and gates run unsandboxed (sandbox.mode: none)';
          expect(await readFile(worker.logFile, 'utf8')).toContain(warning);
          const health = await env.api('GET', '/healthz');
          expect(health.status).toBe(200);
          expect(health.body.sandbox.hosts[0]).toMatchObject({ active: false, mode: 'none' });
          expect(health.body.sandbox.hosts[0].warning).toContain(warning);
          expect(health.body.sandbox.warning).toBe(`agents run UNSANDBOXED on ${worker.hostId}`);
          await env.api('POST', '/api/tasks', { key: 'SBX-NONE', repo: 'demo', title: 'none', description: agent.script([`ls -A ${env.dataDir} | sed 's/^/ls:/'`]) });
          const done = await env.waitForStatus('SBX-NONE');
          expect(done.task.status).toBe('done');
          // Said plainly in the task's details and the queue too.
          expect(done.sandbox.warning).toBe(`agents run UNSANDBOXED on ${worker.hostId}`);
          expect((await env.api('GET', '/queue')).body.sandbox.warning).toBe(`agents run UNSANDBOXED on ${worker.hostId}`);
          // Nothing hides the data dir.
          expect(await logOf(env, 'SBX-NONE')).toMatch(/^ls:logs$/m);
        } finally {
          await env.cleanup();
        }
      });

      it('auto on a host without bwrap: runs unsandboxed, with a plain warning naming the fix', async () => {
        const env = await createTestEnv('sbxnobwrap', { worker: false, pipeline: pipeline(agent, '{ mode: auto }') });
        try {
          // A PATH with what the worker and the agent need, and no bwrap.
          const bin = path.join(env.dir, 'bin-without-bwrap');
          await mkdir(bin);
          for (const tool of ['node', 'git', 'sh', 'env', 'ls', 'sed', 'cat', 'sleep', 'setsid']) {
            const found = (process.env.PATH ?? '').split(':').map((d) => path.join(d, tool)).find((p) => { try { readFileSync(p); return true; } catch { return false; } });
            if (found) await symlink(found, path.join(bin, tool));
          }
          await chmod(bin, 0o755);
          const worker = await env.spawnWorker(`${env.id.slice(0, 10)}-f`, { PATH: bin });
          const warning = 'agents and gates run UNSANDBOXED: bubblewrap does not work here (no bwrap on PATH); install it with `apt-get install bubblewrap` (sandbox.mode: auto)';
          expect(await readFile(worker.logFile, 'utf8')).toContain(warning);
          expect((await env.api('GET', '/healthz')).body.sandbox.hosts[0]).toMatchObject({ active: false, warning });
          await env.api('POST', '/api/tasks', { key: 'SBX-FALLBACK', repo: 'demo', title: 'fallback', description: agent.script(['echo hello']) });
          expect((await env.waitForStatus('SBX-FALLBACK')).task.status).toBe('done');

          // mode bwrap on that host: the worker refuses to start, naming the fix.
          const strict = path.join(env.dir, 'orch-bwrap.yaml');
          await writeFile(strict, (await readFile(env.pipelineFile, 'utf8')).replace('sandbox: { mode: auto }', 'sandbox: { mode: bwrap }'));
          const refused = await env.spawnWorker(`${env.id.slice(0, 10)}-b`, { PATH: bin, ORCH_CONFIG: strict }).then(
            () => 'started',
            (err: Error) => err.message,
          );
          expect(refused).toContain('orch worker: sandbox.mode is bwrap but bubblewrap does not work here (no bwrap on PATH); install it with `apt-get install bubblewrap`, or set sandbox.mode to auto or none');
        } finally {
          await env.cleanup();
        }
      });
    });
  });
}
