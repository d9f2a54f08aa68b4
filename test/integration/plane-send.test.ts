// The README's Plane example: bin/plane-send.ts sends a signed delivery; orch starts, then stops, DEMO-<n>.
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectDir } from '../../worker/config/project-dir.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { TERMINAL_STATUSES } from '../../workflows/contracts/index.js';

describe('bin/plane-send.ts', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv('planesend', { plane: { webhookSecret: 'readme-secret' } });
  });
  afterAll(async () => env?.cleanup());

  const send = (...args: string[]) =>
    execa(process.execPath, ['--import', 'tsx', 'bin/plane-send.ts', ...args], {
      cwd: projectDir,
      env: { ...env.processEnv(), PLANE_WEBHOOK_SECRET: 'readme-secret' },
      reject: false,
    });

  it('starts DEMO-<n> on To Analyse and stops it on STOP', async () => {
    const start = await send('--state', 'To Analyse', '--item', '42', '--title', 'Say hello', '--description', '@agent hang=design');
    expect(start.exitCode).toBe(0);
    expect(start.stdout).toMatch(/^202 .*"outcome":"accepted","action":"start","key":"DEMO-42"/);
    const task = await env.until('the task row', () => env.records.taskByKey('DEMO-42'));
    expect(task).toMatchObject({ repo: 'demo', title: 'Say hello', planeProjectId: '00000000-0000-0000-0000-0000000000de' });
    await env.until('the design agent', async () => (await env.records.jobsOf(task.id)).some((j) => j.stage === 'design' && j.status === 'running'));
    const stop = await send('--state', 'STOP', '--item', '42');
    expect(stop.stdout).toMatch(/^202 .*"outcome":"accepted","action":"stop","key":"DEMO-42"/);
    expect((await env.waitForStatus('DEMO-42', TERMINAL_STATUSES)).task.status).toBe('cancelled');
  });

  it('says clearly when the secret is missing', async () => {
    const r = await execa(process.execPath, ['--import', 'tsx', 'bin/plane-send.ts'], { cwd: projectDir, env: { ...process.env, PLANE_WEBHOOK_SECRET: '' }, reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('set PLANE_WEBHOOK_SECRET');
  });
});
