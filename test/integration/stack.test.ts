// `npm start` as a person uses it: one command brings up the embedded stack; Ctrl-C leaves nothing.
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { groupMembers, readProcStat } from '../../activities/adapters/process-tree.js';
import { projectDir } from '../../worker/config/project-dir.js';
import { freePort } from '../../worker/harness/free-port.js';

interface Stack {
  child: ResultPromise;
  output: () => string;
  pgid: number;
}

describe('npm start (the embedded stack)', () => {
  const started: Stack[] = [];
  afterAll(async () => {
    for (const s of started) if (groupMembers(s.pgid).length) process.kill(-s.pgid, 'SIGKILL');
  });

  const ports = { grpc: 0, ui: 0, http: 0, metrics: 0, pg: 0, api: 0 };
  let dataDir = '';
  let devConfig = '';

  const startStack = async (): Promise<Stack> => {
    // Its own process group, like a shell job: Ctrl-C is SIGINT to the whole group.
    const child = execa(process.execPath, ['--import', 'tsx', 'worker/stack.ts'], {
      cwd: projectDir,
      detached: true,
      reject: false,
      all: true,
      env: {
        ...process.env,
        ORCH_DATA_DIR: dataDir,
        ORCH_TEMPORAL_DEV_CONFIG: devConfig,
        ORCH_PG_PORT: String(ports.pg),
        PORT: String(ports.api),
        TEMPORAL_CLI_PATH: inject('temporalCliPath'),
        // A developer's own worker may hold the default metrics port.
        ORCH_WORKER_METRICS_ADDRESS: '127.0.0.1:0',
        DATABASE_URL: '',
        TEMPORAL_ADDRESS: '',
      },
    });
    let out = '';
    child.all?.on('data', (c: Buffer) => (out += c.toString()));
    const stack = { child, output: () => out, pgid: child.pid! };
    started.push(stack);
    const deadline = Date.now() + 120_000;
    while (!out.includes('orch: ready in')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`stack did not become ready:\n${out}`);
      await sleep(200);
    }
    return stack;
  };

  const ctrlC = async (s: Stack) => {
    process.kill(-s.pgid, 'SIGINT');
    const r = await s.child;
    return r;
  };

  it('starts everything, runs a task, stops cleanly, and keeps its data across a restart', async () => {
    [ports.grpc, ports.ui, ports.http, ports.metrics, ports.pg, ports.api] = (await Promise.all(Array.from({ length: 6 }, freePort))) as [number, number, number, number, number, number];
    dataDir = await mkdtemp(path.join(inject('runDir'), 'stack-'));
    await chmod(dataDir, 0o755);
    devConfig = path.join(dataDir, 'temporal-dev.yaml');
    const yaml = (await readFile(path.join(projectDir, 'temporal-dev.yaml'), 'utf8'))
      .replace(/grpc: \d+/, `grpc: ${ports.grpc}`)
      .replace(/ui: \d+/, `ui: ${ports.ui}`)
      .replace(/http: \d+/, `http: ${ports.http}`)
      .replace(/metrics: \d+/, `metrics: ${ports.metrics}`);
    await writeFile(devConfig, yaml);

    const first = await startStack();
    expect(first.output()).toContain(`Temporal UI    http://127.0.0.1:${ports.ui}`);
    const members = groupMembers(first.pgid);
    // stack, temporal, postgres (+ its helpers), worker, api
    expect(members.length).toBeGreaterThanOrEqual(5);

    const health = await fetch(`http://127.0.0.1:${ports.api}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true, temporal: { up: true }, database: { up: true } });
    expect((await fetch(`http://127.0.0.1:${ports.ui}/`)).status).toBe(200);

    const start = await fetch(`http://127.0.0.1:${ports.api}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'STACK-1', repo: 'demo', title: 'hello' }),
    });
    expect(start.status).toBe(202);
    let status = '';
    for (let i = 0; i < 240 && status !== 'done'; i++) {
      await sleep(250);
      status = ((await (await fetch(`http://127.0.0.1:${ports.api}/api/tasks/STACK-1`)).json()) as any).task?.status;
    }
    expect(status).toBe('done');

    const r = await ctrlC(first);
    expect(r.exitCode).toBe(0);
    expect(first.output()).toContain('orch: stopped');
    // Nothing of the group survives: no temporal, postgres, worker or API process.
    await sleep(500);
    expect(groupMembers(first.pgid)).toEqual([]);
    // Each former member is gone (or its pid was reused by a process outside the group).
    for (const pid of members) {
      const st = readProcStat(pid);
      expect(st === null || st.state === 'Z' || st.pgrp !== first.pgid).toBe(true);
    }

    // A second start sees the first one's data: Temporal's SQLite history and the PostgreSQL rows.
    const second = await startStack();
    const list = await execa(inject('temporalCliPath'), ['workflow', 'list', '--address', `127.0.0.1:${ports.grpc}`, '--query', "WorkflowId='task-STACK-1'"]);
    expect(list.stdout).toContain('task-STACK-1');
    expect(list.stdout).toContain('Completed');
    const row = (await (await fetch(`http://127.0.0.1:${ports.api}/api/tasks/STACK-1`)).json()) as any;
    expect(row.task.status).toBe('done');
    expect((await ctrlC(second)).exitCode).toBe(0);
    expect(groupMembers(second.pgid)).toEqual([]);
  });
});

describe('start-up errors are clear and fast', () => {
  const run = (entry: string, env: Record<string, string>) =>
    execa(process.execPath, ['--import', 'tsx', entry], { cwd: projectDir, reject: false, env: { ...process.env, ...env }, timeout: 60_000 });

  it('a malformed DATABASE_URL is named', async () => {
    const r = await run('worker/main.ts', { DATABASE_URL: 'mysql://nope' });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/DATABASE_URL="mysql:\/\/nope": must be a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('an unreachable database fails fast with its address', async () => {
    const port = await freePort();
    const r = await run('worker/main.ts', { DATABASE_URL: `postgres://orch:secret@127.0.0.1:${port}/orch` });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`cannot reach PostgreSQL at postgres://orch:***@127.0.0.1:${port}/orch`);
    expect(r.stderr).not.toContain('secret');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('an unreachable TEMPORAL_ADDRESS fails fast with the address', async () => {
    const port = await freePort();
    const db = new URL(inject('pgServerUrl'));
    const r = await run('worker/main.ts', { DATABASE_URL: db.toString(), TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`cannot reach Temporal at 127.0.0.1:${port}`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a bad TEMPORAL_ADDRESS or PORT is a config error naming the variable', async () => {
    const r = await run('worker/api-main.ts', { TEMPORAL_ADDRESS: 'http://x', PORT: '99999' });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('TEMPORAL_ADDRESS="http://x": must be host:port');
    expect(r.stderr).toContain('PORT="99999"');
  });
});
