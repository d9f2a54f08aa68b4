// orch start --repo R --title T [--key K] [--description D] [--depends-on A,B]
import type { Command } from 'commander';
import type { StartTaskRequest } from '../api-types.js';
import { out } from '../format.js';
import type { CommandContext } from './context.js';

interface StartOptions {
  repo: string;
  title: string;
  key?: string;
  description?: string;
  dependsOn?: string;
}

export function addStartCommand(program: Command, cx: CommandContext): void {
  program
    .command('start')
    .description('start a task (idempotent for a running key)')
    .requiredOption('--repo <repo>', 'configured repo name')
    .requiredOption('--title <title>', 'short title')
    .option('--key <key>', 'task key, e.g. ORCH-90 (generated when omitted)')
    .option('--description <text>', 'what to do (the agents get it in their prompt)')
    .option('--depends-on <keys>', 'comma-separated keys that must finish first')
    .action(
      cx.action(async (o: StartOptions) => {
        const body: StartTaskRequest = { repo: o.repo, title: o.title };
        if (o.key) body.key = o.key;
        if (o.description !== undefined) body.description = o.description;
        if (o.dependsOn) body.dependsOn = o.dependsOn.split(',').map((s) => s.trim()).filter(Boolean);
        const r = await cx.api.startTask(body);
        out(r.existing ? `${r.key} already running (workflow ${r.workflowId}, run ${r.runId})` : `started ${r.key} (workflow ${r.workflowId}, run ${r.runId})`);
        out(`follow it with: orch watch ${r.key}`);
      }),
    );
}
