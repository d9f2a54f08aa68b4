// orch stop KEY [--reason R]: STOP a task (kills its agent, cleans up; deferred during merge/deploy).
import type { Command } from 'commander';
import { out } from '../format.js';
import type { CommandContext } from './context.js';

export function addStopCommand(program: Command, cx: CommandContext): void {
  program
    .command('stop')
    .description('STOP a task (kills its agent, cleans up; deferred during merge/deploy)')
    .argument('<key>')
    .option('--reason <reason>')
    .action(
      cx.action(async (key: string, o: { reason?: string }) => {
        const r = await cx.api.stopTask(key, { ...(o.reason ? { reason: o.reason } : {}), requestedBy: 'cli' });
        out(`STOP sent to ${r.key} (workflow ${r.workflowId}).`);
        out('It ends cancelled once its current critical step (merge/deploy), if any, has finished.');
        out(`follow it with: orch watch ${r.key}`);
      }),
    );
}
