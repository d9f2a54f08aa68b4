// The bwrap sandbox with real bubblewrap, real processes and the real agent guard: what a run can
// see and reach, and that nothing of it outlives a stop, a SIGKILL of the agent or of its guard.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent } from '../../activities/adapters/agent-process.js';
import { runEnvironment } from '../../activities/adapters/agent-env.js';
import { BWRAP_FIX, createSandbox, SandboxUnavailableError } from '../../activities/adapters/bwrap.js';
import { NO_SANDBOX, type Sandbox } from '../../activities/adapters/sandbox.js';
import type { SandboxSpec } from '../../workflows/contracts/index.js';
import { mkTmpDir, removeTmpDirs } from '../support/git-fixtures.js';
import { appears, goneWithin, processesWith } from '../support/proc.js';

const spec = (over: Partial<SandboxSpec> = {}): SandboxSpec => ({ mode: 'auto', network: 'host', readOnly: [], writable: [], ...over });

let dataDir: string;
let task: { cwd: string; home: string; tmp: string };

beforeAll(async () => {
  dataDir = path.join(await mkTmpDir('orch-sbx-'), 'data');
  const host = path.join(dataDir, 'hosts', 'h1');
  task = { cwd: path.join(host, 'worktrees', 'T-1'), home: path.join(host, 'homes', 'T-1'), tmp: path.join(host, 'tmp', 'T-1') };
  for (const dir of Object.values(task)) await mkdir(dir, { recursive: true });
  await mkdir(path.join(host, 'worktrees', 'OTHER'), { recursive: true });
  await writeFile(path.join(dataDir, 'secret.txt'), 'not for agents');
});
afterAll(removeTmpDirs);

/** What the run printed: its log without the guard's own lines (which quote the script). */
const output = (log: string) => log.split('\n').filter((l) => !l.startsWith('[agent-guard')).join('\n');

/** Runs `script` with sh inside `sandbox` under the real agent guard; `log()` resolves with what it printed. */
function run(sandbox: Sandbox, script: string, env: Record<string, string> = {}) {
  const logFile = path.join(dataDir, 'logs', `${randomBytes(4).toString('hex')}.log`);
  const wrapped = sandbox.wrap({
    command: 'sh',
    args: ['-c', script],
    ...task,
    env: runEnvironment({ home: task.home, tmp: task.tmp, orch: { ORCH_KILL_GRACE_MS: '500' }, extra: env }),
  });
  const agent = startAgent({ ...wrapped, cwd: task.cwd, logFile });
  return { agent, log: async () => (await agent.done, output(await readFile(logFile, 'utf8'))) };
}

/** A marker that appears whole only in the command line of the process that carries it. */
const marker = () => {
  const tail = randomBytes(6).toString('hex');
  return { whole: `orch-sbx-${tail}`, inScript: `"orch-sbx-""${tail}"` };
};

/** A process in a session (and process group) of its own, as Claude Code's Bash tool makes them. */
const ownSession = (m: ReturnType<typeof marker>) => `setsid node -e "setInterval(() => {}, 1e6)" ${m.inScript} &`;

describe('createSandbox', () => {
  it('mode none: unsandboxed, and says so', () => {
    const s = createSandbox(spec({ mode: 'none' }), { dataDir });
    expect(s.status).toMatchObject({ active: false, mode: 'none' });
    expect(s.status.warning).toMatch(/unsandboxed \(sandbox\.mode: none\)/);
    expect(s).toBe(NO_SANDBOX);
    expect(s.wrap({ command: 'x', args: ['y'], ...task, env: { A: '1' } })).toEqual({ command: 'x', args: ['y'], env: { A: '1' } });
  });

  it('auto without bwrap: unsandboxed with a plain warning naming the fix; mode bwrap refuses to start', async () => {
    const noBwrap = await mkTmpDir('orch-nobwrap-');
    const s = createSandbox(spec(), { dataDir, path: noBwrap });
    expect(s.status.active).toBe(false);
    expect(s.status.warning).toBe(`agents and gates run UNSANDBOXED: bubblewrap does not work here (no bwrap on PATH); install it with \`${BWRAP_FIX}\` (sandbox.mode: auto)`);
    expect(() => createSandbox(spec({ mode: 'bwrap' }), { dataDir, path: noBwrap })).toThrow(SandboxUnavailableError);
    expect(() => createSandbox(spec({ mode: 'bwrap' }), { dataDir, path: noBwrap })).toThrow(/sandbox\.mode is bwrap but .*apt-get install bubblewrap/);
  });

  it('bwrap here: active', () => {
    expect(createSandbox(spec({ mode: 'bwrap' }), { dataDir }).status).toEqual({ active: true, mode: 'bwrap', network: 'host' });
  });
});

describe('a sandboxed run', () => {
  const sandbox = () => createSandbox(spec(), { dataDir });

  it('sees its worktree, HOME and TMPDIR writable, the system read-only, orch\'s data dir empty and only its own processes', async () => {
    const log = await run(
      sandbox(),
      [
        'echo "cwd=$(pwd)"',
        `ls -A ${dataDir} | sed 's/^/data:/'`,
        `ls -A ${path.dirname(task.cwd)} | sed 's/^/worktrees:/'`,
        `cat ${dataDir}/secret.txt && echo READ-SECRET`,
        `touch ${dataDir}/planted || echo NO-WRITE-DATA`,
        `touch ${path.join(path.dirname(task.cwd), 'OTHER', 'x')} || echo NO-WRITE-OTHER`,
        'touch /usr/planted || echo NO-WRITE-SYSTEM',
        'touch ok-wt "$HOME/ok-home" "$TMPDIR/ok-tmp" /tmp/ok-private-tmp && echo WROTE-OWN',
        'echo "procs=$(ls /proc | grep -c "^[0-9]")"',
      ].join('; '),
    ).log();
    expect(log).toContain(`cwd=${task.cwd}`);
    expect(log).toContain('data:hosts');
    expect(log).not.toContain('data:secret.txt');
    expect(log).toContain('worktrees:T-1');
    expect(log).not.toContain('worktrees:OTHER');
    expect(log).not.toContain('READ-SECRET');
    for (const no of ['NO-WRITE-DATA', 'NO-WRITE-OTHER', 'NO-WRITE-SYSTEM', 'WROTE-OWN']) expect(log).toContain(no);
    expect(existsSync(path.join(dataDir, 'planted'))).toBe(false);
    expect(existsSync(path.join(task.cwd, 'ok-wt'))).toBe(true);
    expect(existsSync(path.join(task.home, 'ok-home'))).toBe(true);
    // bwrap's init, sh, and the pipeline's processes: a handful, not the host's hundreds.
    expect(Number(/procs=(\d+)/.exec(log)?.[1])).toBeLessThan(10);
  });

  it('gets exactly the environment it was given, and no other process\'s in /proc', async () => {
    process.env.SOME_SECRET = 'canary-some-secret';
    try {
      const log = await run(sandbox(), 'env | sed "s/^/env:/"; cat /proc/*/environ | tr "\\0" "\\n" | sed "s/^/proc:/"', { GIVEN: 'yes' }).log();
      expect(log).toContain('env:GIVEN=yes');
      expect(log).toContain('proc:GIVEN=yes');
      expect(log).toContain(`env:HOME=${task.home}`);
      expect(log).not.toContain('canary-some-secret');
    } finally {
      delete process.env.SOME_SECRET;
    }
  });

  it('leaves nothing alive after a stop: the agent gets SIGTERM first, its own-session child dies with the namespace', async () => {
    const m = marker();
    const r = run(sandbox(), `${ownSession(m)} trap 'echo GOT-TERM; exit 0' TERM; while :; do sleep 0.1; done`);
    await appears(m.whole, 10_000);
    const report = await r.agent.kill(500);
    expect(report.sigkill).toBe(false);
    expect(await goneWithin(m.whole, 10_000)).toEqual([]);
    expect(await r.log()).toContain('GOT-TERM');
  });

  it('leaves nothing alive after a SIGKILL of the agent, or of the guard\'s whole group', async () => {
    const m1 = marker();
    const agentKilled = run(sandbox(), `${ownSession(m1)} exec node -e "setInterval(() => {}, 1e6)" ${marker().inScript}-agent-${m1.inScript}`);
    await appears(m1.whole, 10_000);
    const agent = processesWith(`-agent-${m1.whole}`);
    expect(agent).toHaveLength(1);
    process.kill(agent[0]!.pid, 'SIGKILL');
    expect(await goneWithin(m1.whole, 10_000)).toEqual([]);
    expect((await agentKilled.agent.done).exitCode).not.toBe(0);

    const m2 = marker();
    const groupKilled = run(sandbox(), `${ownSession(m2)} trap '' TERM; while :; do sleep 0.1; done`);
    await appears(m2.whole, 10_000);
    process.kill(-groupKilled.agent.pgid, 'SIGKILL');
    expect(await goneWithin(m2.whole, 10_000)).toEqual([]);
  });

  describe('network', () => {
    let server: Server;
    let port: number;
    beforeAll(async () => {
      server = createServer((s) => s.on('error', () => {}).end('hello\n'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const connect = () =>
      `node -e "require('net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('CONNECTED'); process.exit(0) }).on('error', (e) => { console.log('REFUSED ' + e.code); process.exit(1) })"`;

    it('none: a loopback connection to a port on the host is refused', async () => {
      const log = await run(createSandbox(spec({ network: 'none' }), { dataDir }), connect()).log();
      expect(log).toContain('REFUSED ECONNREFUSED');
      expect(log).not.toContain('CONNECTED');
    });

    it('host: the same connection goes through', async () => {
      expect(await run(sandbox(), connect()).log()).toContain('CONNECTED');
    });
  });

  it('keeps the directories on its PATH that the private /tmp would hide (read-only)', async () => {
    const bin = await mkTmpDir('orch-bin-');
    await writeFile(path.join(bin, 'orch-sbx-tool'), '#!/bin/sh\necho TOOL-RAN\n', { mode: 0o755 });
    const log = await run(sandbox(), `PATH="${bin}:$PATH"; orch-sbx-tool; touch ${bin}/x || echo RO`, { PATH: `${bin}:${process.env.PATH}` }).log();
    expect(log).toContain('TOOL-RAN');
    expect(log).toContain('RO');
  });

  it('configured read-only and writable paths, and the worker user\'s credentials hidden', async () => {
    const ro = await mkTmpDir('orch-ro-');
    const rw = await mkTmpDir('orch-rw-');
    const userHome = await mkTmpDir('orch-user-');
    await mkdir(path.join(userHome, '.ssh'));
    await writeFile(path.join(userHome, '.ssh', 'id_ed25519'), 'PRIVATE KEY');
    await writeFile(path.join(userHome, '.git-credentials'), 'https://u:token@example.com');
    await writeFile(path.join(ro, 'cache.txt'), 'cached');
    const s = createSandbox(spec({ readOnly: [ro], writable: [rw] }), { dataDir, userHome });
    const log = await run(
      s,
      `cat ${ro}/cache.txt; touch ${ro}/x || echo RO-BLOCKED; touch ${rw}/x && echo RW-OK; cat ${userHome}/.ssh/id_ed25519 ${userHome}/.git-credentials; echo END`,
    ).log();
    expect(log).toContain('cached');
    expect(log).toContain('RO-BLOCKED');
    expect(log).toContain('RW-OK');
    expect(log).not.toContain('PRIVATE KEY');
    expect(log).not.toContain('token@');
    expect(existsSync(path.join(rw, 'x'))).toBe(true);
  });
});
