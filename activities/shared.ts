// Activities any worker can run (the shared `orch` task queue): records, locks, forge, deploy.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { renderTemplate } from '../worker/pipeline.js';
import type { SharedActivities, TaskPatch } from '../workflows/activity-types.js';
import { featureBranch, hostTaskQueue, type CompensationResult, type RepoSpec } from '../workflows/types.js';
import { activityKey, hostPaths, repoSpec, type ActivityDeps } from './deps.js';
import { createGiteaForge } from './forge/gitea.js';
import { createLocalForge } from './forge/local.js';
import { MergeConflictError, type Forge } from './forge/types.js';
import { BranchProtectedError } from './git.js';
import { createPlaneActivities, formatProgressComment } from './plane.js';
import { knownHosts, reconcileBranches, reconcileTasks } from './reconcile.js';
import { lockWorkflowId } from '../workflows/repo-lock.js';

export function forgeFor(repo: RepoSpec, mirrorsDir: string, env: NodeJS.ProcessEnv = process.env): Forge {
  if (repo.forge.type === 'local') return createLocalForge({ cacheDir: mirrorsDir, remote: repo.remote });
  const token = env[repo.forge.tokenEnv];
  if (!token) throw ApplicationFailure.nonRetryable(`repo ${repo.name}: the Gitea token variable ${repo.forge.tokenEnv} is not set`);
  return createGiteaForge({ baseUrl: repo.forge.baseUrl, owner: repo.forge.owner, repo: repo.forge.repo, token });
}

const toDates = (patch: TaskPatch) => ({
  ...(patch.stage !== undefined && { stage: patch.stage }),
  ...(patch.runId !== undefined && { runId: patch.runId }),
  ...(patch.status !== undefined && { status: patch.status }),
  ...(patch.failureReason !== undefined && { failureReason: patch.failureReason }),
  ...(patch.cancelRequestedAt && { cancelRequestedAt: new Date(patch.cancelRequestedAt) }),
  ...(patch.cancelledAt && { cancelledAt: new Date(patch.cancelledAt) }),
  ...(patch.finishedAt && { finishedAt: new Date(patch.finishedAt) }),
});

export function createSharedActivities(deps: ActivityDeps): SharedActivities {
  const { pipeline, records, client } = deps;
  const paths = hostPaths(deps);
  const forge = (name: string) => forgeFor(repoSpec(pipeline, name), paths.mirrors);
  const plane = createPlaneActivities({ config: deps.plane ?? { baseUrl: undefined, apiKey: undefined, workspaceSlug: undefined } });

  return {
    async planPipeline(repo) {
      return {
        repo: repoSpec(pipeline, repo),
        stages: pipeline.stages,
        attemptsPerStage: pipeline.attemptsPerStage,
        timeouts: pipeline.timeouts,
      };
    },

    async recordTask(input) {
      repoSpec(pipeline, input.repo);
      const row = await records.upsertTask(input);
      return { taskId: row.id };
    },

    async updateTask(taskId, patch) {
      await records.setTaskState(taskId, toDates(patch));
    },

    async recordEvent(e) {
      await records.recordEvent({ ...e, dedupeKey: activityKey() });
    },

    async finishJob(e) {
      await records.finishJob(e.activityKey, e.status, { detail: e.detail, supersede: e.supersede });
    },

    async dependencyStatuses(keys) {
      return records.statusesOf(keys);
    },

    async pickHost() {
      return { hostId: deps.hostId, taskQueue: hostTaskQueue(deps.hostId) };
    },

    async requestLock({ repo, holderWorkflowId, purpose }) {
      const lockId = lockWorkflowId(deps.taskQueue, purpose, repo);
      await client.workflow.signalWithStart('repoLock', {
        workflowId: lockId,
        taskQueue: deps.taskQueue,
        args: [undefined],
        signal: 'acquire',
        signalArgs: [{ holderWorkflowId, purpose }],
        staticSummary: `lock ${lockId}`,
      });
      return { lockId };
    },

    async awaitWorkflowClosed(workflowId) {
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), 5000);
      try {
        const result = client.workflow
          .getHandle(workflowId)
          .result()
          .then(
            () => undefined,
            (err) => {
              if (err instanceof WorkflowNotFoundError) return;
              // A failed, cancelled or terminated workflow is closed too: only transport errors are retried.
              if (err && typeof err === 'object' && 'name' in err && String(err.name).startsWith('Workflow')) return;
              throw err;
            },
          );
        await Promise.race([result, ctx.cancelled]);
      } finally {
        clearInterval(beat);
      }
    },

    async openPullRequest({ repo, key, title, body }) {
      const r = repoSpec(pipeline, repo);
      const pr = await forge(repo).openPullRequest({ branch: featureBranch(key), base: r.defaultBranch, title, body });
      return { number: pr.number, url: pr.url };
    },

    async mergeFeatureBranch({ repo, key, title, pr }) {
      const r = repoSpec(pipeline, repo);
      try {
        const res = await forge(repo).merge({ branch: featureBranch(key), base: r.defaultBranch, pr, message: `Merge ${featureBranch(key)}: ${title}` });
        return { alreadyMerged: res.alreadyMerged, sha: res.sha };
      } catch (err) {
        if (err instanceof MergeConflictError) throw ApplicationFailure.nonRetryable(err.message, 'MergeConflictError');
        throw err;
      }
    },

    async deploy({ repo, key, title, sha }) {
      const r = repoSpec(pipeline, repo);
      if (!r.deploy) return { ran: false, exitCode: null };
      const ctx = Context.current();
      const vars = { key, repo, title, sha: sha ?? '', stage: 'deploy', description: '', worktree: '', attempt: '1' };
      const logFile = path.join(paths.taskLogDir(key), 'deploy.log');
      await mkdir(path.dirname(logFile), { recursive: true });
      const beat = setInterval(() => ctx.heartbeat(), deps.heartbeatEveryMs);
      try {
        // The deploy is never killed by a STOP (it runs in a critical window); only a timeout stops it.
        const res = await execa(renderTemplate(r.deploy.command, vars), r.deploy.args.map((a) => renderTemplate(a, vars)), {
          cwd: deps.projectDir,
          env: Object.fromEntries(Object.entries(r.deploy.env ?? {}).map(([k, v]) => [k, renderTemplate(v, vars)])),
          stdout: { file: logFile, append: true },
          stderr: { file: logFile, append: true },
          reject: false,
        });
        if (res.exitCode !== 0) {
          throw ApplicationFailure.nonRetryable(`deploy command exited ${res.exitCode ?? res.signal}; see ${logFile}`, 'DeployFailed');
        }
        return { ran: true, exitCode: res.exitCode };
      } finally {
        clearInterval(beat);
      }
    },

    async deleteFeatureBranch({ repo, key, branch }): Promise<CompensationResult> {
      const r = repoSpec(pipeline, repo);
      const name = branch ?? featureBranch(key);
      try {
        const res = await forge(repo).deleteBranch({ branch: name, defaultBranch: r.defaultBranch, protectedBranches: r.protectedBranches });
        return { step: 'delete-branch', ok: true, detail: res.absent ? `${name} was already absent` : `deleted ${name}` };
      } catch (err) {
        if (err instanceof BranchProtectedError) return { step: 'delete-branch', ok: false, detail: `refused: ${err.message}` };
        throw err;
      }
    },

    async cancelJobs(taskId) {
      const n = await records.cancelJobs(taskId);
      return { step: 'cancel-jobs', ok: true, detail: `${n} job(s) cancelled` };
    },

    async markCancelled(taskId, at) {
      return records.tombstone(taskId, { status: 'cancelled', cancelledAt: new Date(at), finishedAt: new Date(at) });
    },

    async notifyPlane({ planeProjectId, planeIssueId, update }) {
      return plane.notifyPlane({ planeProjectId, planeIssueId, html: formatProgressComment(update) });
    },

    knownHosts: () => knownHosts(deps),
    reconcileBranches: () => reconcileBranches(deps),
    reconcileTasks: () => reconcileTasks(deps),
  };
}
