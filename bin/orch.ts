// `orch`: the operator CLI. It only talks HTTP to the orch API (ORCH_API_URL, ORCH_API_TOKEN).
// Exit codes: 0 ok · 1 the API said no (or the task failed) · 2 the watched task was cancelled ·
// 3 the API cannot be reached.
import { Command } from 'commander';
import { createApiClient } from './api-client.js';
import { CliError, EXIT } from './cli-error.js';
import { addApproveCommands } from './commands/approve.js';
import type { CommandContext } from './commands/context.js';
import { addLogsCommand } from './commands/logs.js';
import { addQueueCommand } from './commands/queue.js';
import { addReconcileCommand } from './commands/reconcile.js';
import { addStartCommand } from './commands/start.js';
import { addStatusCommand } from './commands/status.js';
import { addStopCommand } from './commands/stop.js';
import { addWatchCommand } from './commands/watch.js';

const api = createApiClient({
  baseUrl: process.env.ORCH_API_URL || `http://127.0.0.1:${process.env.PORT || 3000}`,
  token: process.env.ORCH_API_TOKEN || undefined,
});

let exitCode: number = EXIT.ok;
const cx: CommandContext = {
  api,
  action:
    (fn) =>
    async (...args) => {
      const code = await fn(...args);
      if (typeof code === 'number') exitCode = code;
    },
};

const program = new Command()
  .name('orch')
  .description(`Operate orch pipelines through its API (${api.baseUrl}; set ORCH_API_URL and ORCH_API_TOKEN).`)
  .showHelpAfterError()
  .addHelpText('after', '\nExit codes: 0 ok, 1 refused by the API or task failed, 2 task cancelled (watch), 3 API unreachable.');

for (const add of [addStartCommand, addStatusCommand, addWatchCommand, addStopCommand, addApproveCommands, addQueueCommand, addLogsCommand, addReconcileCommand]) add(program, cx);

try {
  await program.parseAsync(process.argv);
  process.exitCode = exitCode;
} catch (err) {
  if (err instanceof CliError) {
    process.stderr.write(`orch: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`orch: unexpected error: ${err instanceof Error ? (process.env.ORCH_DEBUG ? err.stack : err.message) : String(err)}\n`);
    process.exitCode = EXIT.refused;
  }
}
