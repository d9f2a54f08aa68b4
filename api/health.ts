// GET /healthz: can the API reach Temporal and PostgreSQL, and how fast.
import type { Client } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';

export interface HealthDeps {
  client: Client;
  db: Db;
  /** Reported as is: the Temporal client does not expose the address it dialled. */
  temporalAddress: string;
}

async function check(fn: () => Promise<unknown>) {
  const t0 = performance.now();
  try {
    await fn();
    return { up: true, latencyMs: Math.round(performance.now() - t0) };
  } catch (err) {
    return { up: false, error: (err as Error).message };
  }
}

export async function healthOf(d: HealthDeps) {
  const [temporal, database] = await Promise.all([
    check(() => d.client.workflowService.getSystemInfo({})),
    check(() => d.db.execute(sql`select 1`)),
  ]);
  return { ok: temporal.up && database.up, temporal: { ...temporal, address: d.temporalAddress, namespace: d.client.options.namespace }, database };
}
