// orch watch KEY [--interval MS]: prints each new fact until the task ends; exit 0 done, 1 failed, 2 cancelled.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { isTerminal } from '../../workflows/contracts/status.js';
import { EXIT } from '../cli-error.js';
import { clock, out } from '../format.js';
import { factsOf } from '../task-story.js';
import type { CommandContext } from './context.js';

export function addWatchCommand(program: Command, cx: CommandContext): void {
  program
    .command('watch')
    .description('follow a task until it ends; exit 0 done, 1 failed, 2 cancelled')
    .argument('<key>')
    .option('--interval <ms>', 'poll interval', '500')
    .action(
      cx.action(async (key: string, o: { interval: string }) => {
        const every = Math.max(100, Number(o.interval) || 500);
        const seen = new Set<string>();
        let first = true;
        for (;;) {
          const t = await cx.api.task(key);
          const now = Date.now();
          if (first) {
            out(`${clock(now)}  watching ${key} (${t.task.repo}: ${t.task.title}) — ${t.task.status}`);
            first = false;
          }
          const fresh = factsOf(key, t, now)
            .filter((f) => !seen.has(f.id))
            .sort((a, b) => a.at - b.at || a.rank - b.rank);
          for (const f of fresh) {
            seen.add(f.id);
            out(`${clock(Number.isFinite(f.at) ? f.at : now)}  ${f.text}`);
          }
          if (isTerminal(t.task.status)) return t.task.status === 'done' ? EXIT.ok : t.task.status === 'failed' ? EXIT.refused : EXIT.cancelled;
          await sleep(every);
        }
      }),
    );
}
