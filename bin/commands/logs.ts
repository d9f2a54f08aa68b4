// orch logs KEY [-f]: prints a task's agent logs from the API's SSE stream (api/log-stream.ts),
// a `==> file <==` header per attempt; with --follow until the task ends.
import type { Command } from 'commander';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { CliError, EXIT } from '../cli-error.js';
import { out } from '../format.js';
import type { CommandContext } from './context.js';

/** A JSON field of an event's data, or null when the data is not that JSON. */
function field<T>(data: string, name: string): T | null {
  try {
    return ((JSON.parse(data) as Record<string, unknown>)[name] as T) ?? null;
  } catch {
    return null;
  }
}

export function addLogsCommand(program: Command, cx: CommandContext): void {
  program
    .command('logs')
    .description("print a task's agent logs")
    .argument('<key>')
    .option('-f, --follow', 'keep streaming until the task ends')
    .action(
      cx.action(async (key: string, o: { follow?: boolean }) => {
        const stream = await cx.api.logStream(key, Boolean(o.follow));
        let files = 0;
        let ended = false;
        let status: string | null = null;
        const onEvent = (e: EventSourceMessage) => {
          if (ended) return;
          if (e.event === 'log') out(e.data);
          else if (e.event === 'attempt') out(`${files++ ? '\n' : ''}==> ${field<string>(e.data, 'file') ?? e.data} <==`);
          else if (e.event === 'error') throw new CliError(`log stream failed: ${e.data}`);
          else if (e.event === 'end') {
            ended = true;
            status = field<string>(e.data, 'status');
          }
        };
        const parser = createParser({ onEvent });
        const decoder = new TextDecoder();
        try {
          for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
            parser.feed(decoder.decode(chunk, { stream: true }));
            if (ended) {
              if (o.follow) process.stderr.write(`-- ${key} ${status ?? 'ended'} --\n`);
              return EXIT.ok;
            }
          }
        } catch (err) {
          if (err instanceof CliError) throw err;
          throw new CliError(`the log stream from ${cx.api.baseUrl} broke off: ${(err as Error).message}`, EXIT.unreachable);
        }
        throw new CliError(`the log stream from ${cx.api.baseUrl} ended without an end event`, EXIT.unreachable);
      }),
    );
}
