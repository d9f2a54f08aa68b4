// The Temporal Web UI, in a real headless Chromium: what an operator sees of a running task. The
// task is listed, a filter on the OrchStage search attribute finds it (and another stage does not),
// and its page shows the summary and the current details the workflow keeps up to date.
// Screenshots go to test-artifacts/ (gitignored).
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { projectDir } from '../../worker/config/project-dir.js';
import { createTestEnv, type TestEnv } from '../support/env.js';
import { taskWorkflowId } from '../../workflows/contracts/index.js';

/** The SDK's built-in query behind the Web UI's summary and current details. */
const METADATA_QUERY = '__temporal_workflow_metadata';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(projectDir, 'test-artifacts');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Why this file cannot run here, or null. Reported as the reason of the skip, never a silent pass. */
function unavailable(): string | null {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (.ci/run does)`;
  if (!inject('temporalUiUrl')) return 'the dev server runs headless: it serves no Web UI';
  return null;
}

/** The visible text of the page and of every frame in it. */
async function allText(page: Page): Promise<string> {
  const texts = await Promise.all(page.frames().map((f) => f.innerText('body').catch(() => '')));
  return texts.join('\n');
}

describe('the Temporal Web UI shows a running task', () => {
  const skipReason = unavailable();
  let env: TestEnv;
  let browser: Browser;
  let page: Page;
  const ns = inject('temporalNamespace');
  const ui = inject('temporalUiUrl').replace(/\/+$/, '');
  let key: string;

  beforeAll(async () => {
    if (skipReason) return;
    env = await createTestEnv('browser');
    key = `BRW-${env.id.slice(-4).toUpperCase()}`;
    await mkdir(ARTIFACTS, { recursive: true });
    const started = await env.api('POST', '/api/tasks', { key, repo: 'demo', title: 'seen in a browser', description: '@agent hang=development' });
    expect(started.status).toBe(202);
    const task = await env.until('the task row', () => env.records.taskByKey(key));
    await env.until(
      'the development agent',
      async () => (await env.records.jobsOf(task.id)).some((j) => j.stage === 'development' && j.status === 'running'),
      60_000,
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  });
  afterAll(async () => {
    await browser?.close();
    if (env && key) {
      await env.api('POST', `/api/tasks/${key}/stop`, { reason: 'browser test done' }).catch(() => undefined);
    }
    await env?.cleanup();
  });

  /** Opens a workflow list URL until the row of the task shows (visibility is eventually consistent). */
  const listShows = async (url: string) => {
    const row = page.getByRole('link', { name: `task-${key}`, exact: true });
    const deadline = Date.now() + 30_000;
    for (;;) {
      await page.goto(url);
      try {
        await row.first().waitFor({ state: 'visible', timeout: 5000 });
        return row;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
    }
  };
  const listUrl = (query?: string) => `${ui}/namespaces/${ns}/workflows${query ? `?query=${encodeURIComponent(query)}` : ''}`;

  it('lists the running task', async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    await listShows(listUrl());
    const row = page.getByRole('row').filter({ hasText: `task-${key}` });
    await expect.poll(() => row.innerText(), { timeout: 15_000 }).toMatch(/Running/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-1-list.png') });
  });

  it('finds it with a filter on OrchStage, and not with another stage', async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    await listShows(listUrl('OrchStage="development"'));
    // The UI took the query as its own filter.
    await expect.poll(() => page.innerText('body'), { timeout: 15_000 }).toMatch(/OrchStage\s*=\s*"development"/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-2-filter-orchstage.png') });

    await page.goto(listUrl('OrchStage="review"'));
    await expect.poll(() => page.innerText('body'), { timeout: 15_000 }).toMatch(/OrchStage\s*=\s*"review"/);
    // Wait for the list to settle, then the task must not be in it.
    await expect.poll(() => page.innerText('body'), { timeout: 15_000 }).toMatch(/(^|\n)0\s+Workflows\n/);
    expect(await page.getByRole('link', { name: `task-${key}`, exact: true }).count()).toBe(0);
  });

  it("shows its summary and current details on its page, and they follow the task", async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const row = await listShows(listUrl(`OrchTaskKey="${key}"`));
    await row.first().click();
    await page.getByRole('link', { name: 'User Metadata' }).or(page.getByText('User Metadata', { exact: true })).first().click();
    // The panels fill in as the UI's requests come back; it renders the markdown in sandboxed iframes.
    await expect.poll(() => allText(page), { timeout: 15_000 }).toContain(`${key}: seen in a browser`); // the static summary
    await expect.poll(() => allText(page), { timeout: 15_000 }).toMatch(/status: running, stage: development \(attempt 1\)/);
    const text = await allText(page);
    expect(text).toContain('Current Details');
    expect(text).toMatch(/host: browser_/);
    expect(text).toContain('development: agent (attempt 1)'); // the activity summaries
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-3-task-page.png') });

    // STOP it: the same page follows the task (the UI refetches on reload).
    const detailsUrl = page.url();
    expect(detailsUrl).toMatch(new RegExp(`/workflows/task-${key}/[0-9a-f-]+/user-metadata$`));
    await env.api('POST', `/api/tasks/${key}/stop`, { reason: 'seen in a browser' });
    await env.waitForStatus(key, ['cancelled']);
    // The current details the UI renders are the SDK's metadata query: they now say cancelled.
    const metadata = await env.client.workflow.getHandle(taskWorkflowId(key)).query<{ currentDetails?: string }>(METADATA_QUERY);
    expect(metadata.currentDetails).toMatch(/status: `cancelled`/);
    // The page shows the closed workflow and the compensation's activities. (Whether the UI also
    // renders a just-closed workflow's current details varies with the machine's load: on this
    // 2-core machine it often gives up on its query first, with this code and with the code before it.)
    await expect
      .poll(
        async () => {
          await page.goto(detailsUrl);
          await page.getByText('Current Details').first().waitFor({ timeout: 10_000 });
          return allText(page);
        },
        { timeout: 60_000, interval: 2000 },
      )
      .toMatch(/Completed[\s\S]*STOP: kill agent[\s\S]*STOP: remove worktree/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-4-task-page-stopped.png') });
  });
});
