// The deploy activity: the repo's deploy command, once per task, after the merge.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import type { DeliveryActivities } from '../workflows/contracts/index.js';
import { renderTemplate } from './adapters/template.js';
import { hostPaths, repoSpec, type ActivityDeps } from './deps.js';
import { heartbeating } from './heartbeat.js';

export function createDeployActivities(
  deps: Pick<ActivityDeps, 'pipeline' | 'dataDir' | 'hostId' | 'projectDir' | 'heartbeatEveryMs'>,
): Pick<DeliveryActivities, 'deploy'> {
  const paths = hostPaths(deps);
  return {
    async deploy({ repo, key, title, sha }) {
      const r = repoSpec(deps.pipeline, repo);
      if (!r.deploy) return { ran: false, exitCode: null };
      const cmd = r.deploy;
      const vars = { key, repo, title, sha: sha ?? '', stage: 'deploy', description: '', worktree: '', attempt: '1' };
      const logFile = path.join(paths.taskLogDir(key), 'deploy.log');
      await mkdir(path.dirname(logFile), { recursive: true });
      return heartbeating(deps.heartbeatEveryMs, async () => {
        // The deploy is never killed by a STOP (it runs in a critical window); only a timeout stops it.
        const res = await execa(renderTemplate(cmd.command, vars), cmd.args.map((a) => renderTemplate(a, vars)), {
          cwd: deps.projectDir,
          env: Object.fromEntries(Object.entries(cmd.env ?? {}).map(([k, v]) => [k, renderTemplate(v, vars)])),
          stdout: { file: logFile, append: true },
          stderr: { file: logFile, append: true },
          reject: false,
        });
        if (res.exitCode !== 0) {
          throw ApplicationFailure.nonRetryable(`deploy command exited ${res.exitCode ?? res.signal}; see ${logFile}`, 'DeployFailed');
        }
        return { ran: true, exitCode: res.exitCode };
      });
    },
  };
}
