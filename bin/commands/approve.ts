// orch approve KEY [--stage S] [--comment C] [--by B] and orch reject KEY --comment C [--stage S]
// [--by B]: a person's decision on the approval stage a task waits in, through the API (the task
// workflow's update; its refusals exit 1 with the validator's message).
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { Decided } from '../api-types.js';
import { clock, out } from '../format.js';
import type { CommandContext } from './context.js';

interface DecisionOptions {
  stage?: string;
  comment?: string;
  by?: string;
}

/** Who decides when `--by` is left out: the person at this terminal. */
function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry for the uid (some containers).
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

function report(r: Decided) {
  out(`${r.key}: ${r.stage} ${r.decision} by ${r.by} at ${clock(r.at)}${r.comment ? `: ${r.comment}` : ''}`);
  out(r.decision === 'approved' ? 'The task goes on with its next stage.' : 'The task goes back to the stage its pipeline names (onReject), or fails without one.');
  out(`follow it with: orch watch ${r.key}`);
}

export function addApproveCommands(program: Command, cx: CommandContext): void {
  const decide = (kind: 'approve' | 'reject') =>
    cx.action(async (key: string, o: DecisionOptions) => {
      const body = { by: o.by ?? osUser(), via: 'cli' as const, ...(o.comment !== undefined && { comment: o.comment }), ...(o.stage !== undefined && { stage: o.stage }) };
      report(await cx.api.decide(key, kind, body));
    });
  program
    .command('approve')
    .description('approve the approval stage a task waits in; it goes on with the next stage')
    .argument('<key>')
    .option('--stage <stage>', 'the approval stage meant (refused if the task waits in another one)')
    .option('--comment <comment>')
    .option('--by <name>', 'who decides (default: your OS user name)')
    .action(decide('approve'));
  program
    .command('reject')
    .description('reject the approval stage a task waits in; the comment reaches the stage it goes back to')
    .argument('<key>')
    .requiredOption('--comment <comment>', 'why: the stage that runs again is told')
    .option('--stage <stage>', 'the approval stage meant (refused if the task waits in another one)')
    .option('--by <name>', 'who decides (default: your OS user name)')
    .action(decide('reject'));
}
