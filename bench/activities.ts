// Activities of the bench's baseline workflows (bench/workflows.ts). They run in the bench process
// and write their stamps into this module's maps, keyed by workflow id.
import { Context } from '@temporalio/activity';
import { nowMs } from './stack.js';

/** workflow id → when the activity saw what it waits for (ms, `nowMs()`). */
export const readyAt = new Map<string, number>();
export const stampedAt = new Map<string, number>();
export const cancelSeenAt = new Map<string, number>();

export function createBenchActivities() {
  return {
    async ready(id: string): Promise<void> {
      readyAt.set(id, nowMs());
    },
    async stamp(id: string): Promise<void> {
      stampedAt.set(id, nowMs());
    },
    async noop(): Promise<void> {
      // nothing: the baseline is the orchestration itself
    },
    /** Heartbeats every `beatEveryMs` until cancelled; stamps the moment the cancellation arrives. */
    async heartbeatingAgent(id: string, beatEveryMs: number): Promise<void> {
      const ctx = Context.current();
      ctx.heartbeat();
      readyAt.set(id, nowMs());
      const ticker = setInterval(() => ctx.heartbeat(), beatEveryMs);
      try {
        await ctx.cancelled;
      } catch (err) {
        cancelSeenAt.set(id, nowMs());
        throw err;
      } finally {
        clearInterval(ticker);
      }
    },
  };
}
export type BenchActivities = ReturnType<typeof createBenchActivities>;
