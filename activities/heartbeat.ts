// The one heartbeat loop every long activity uses.
import { Context } from '@temporalio/activity';

/**
 * Heartbeats now and every `everyMs` while `fn` runs. A heartbeat is how the workflow learns within
 * seconds that a host died, and the only way a cancellation reaches a running activity. `details`
 * is read at every beat; `fn` gets `beat` to send one at once (e.g. as soon as a pid is known).
 */
export async function heartbeating<T>(everyMs: number, fn: (beat: () => void) => Promise<T>, details?: () => unknown): Promise<T> {
  const ctx = Context.current();
  const beat = () => ctx.heartbeat(details?.());
  beat();
  const ticker = setInterval(beat, everyMs);
  try {
    return await fn(beat);
  } finally {
    clearInterval(ticker);
  }
}
