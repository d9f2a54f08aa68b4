// orch reconcile: asks the API to reconcile records with Temporal and the hosts; prints the report.
import type { Command } from 'commander';
import { CliError } from '../cli-error.js';
import { out } from '../format.js';
import type { CommandContext } from './context.js';

export function addReconcileCommand(program: Command, cx: CommandContext): void {
  program
    .command('reconcile')
    .description('ask the API to reconcile records with Temporal and the hosts')
    .action(
      cx.action(async () => {
        const report = await cx.api.reconcile().catch((err: unknown) => {
          // An API from before POST /api/reconcile answers its catch-all 404.
          if (err instanceof CliError && err.status === 404 && /no such route/.test(err.message)) {
            throw new CliError(`the orch API at ${cx.api.baseUrl} is too old: it has no POST /api/reconcile (upgrade and restart it)`);
          }
          throw err;
        });
        out(JSON.stringify(report, null, 2));
      }),
    );
}
