// GET /healthz: can the API reach Temporal and PostgreSQL, and how fast; and whether each worker
// host contains its agents (the status its worker recorded at start-up in the data dir).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { SANDBOX_STATUS_FILE, type HostSandboxStatus } from '../workflows/contracts/index.js';

export interface HealthDeps {
  client: Client;
  db: Db;
  /** Reported as is: the Temporal client does not expose the address it dialled. */
  temporalAddress: string;
  /** ORCH_DATA_DIR: each worker host records its sandbox status under `hosts/<host>/`. */
  dataDir?: string;
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

/** The sandbox status every worker host recorded, newest start first. */
export async function hostSandboxes(dataDir: string): Promise<HostSandboxStatus[]> {
  const hostsDir = path.join(dataDir, 'hosts');
  const found: HostSandboxStatus[] = [];
  for (const host of await readdir(hostsDir).catch(() => [] as string[])) {
    const text = await readFile(path.join(hostsDir, host, SANDBOX_STATUS_FILE), 'utf8').catch(() => null);
    if (text === null) continue;
    try {
      found.push(JSON.parse(text) as HostSandboxStatus);
    } catch {
      // a file being written: the next probe reads it
    }
  }
  return found.sort((a, b) => b.at.localeCompare(a.at));
}

/** The hosts' sandbox statuses, with a plain warning when any host runs agents unsandboxed. */
export async function sandboxSummary(dataDir: string | undefined, onlyHosts?: readonly string[]) {
  const all = dataDir ? await hostSandboxes(dataDir) : [];
  const hosts = onlyHosts ? all.filter((h) => onlyHosts.includes(h.host)) : all;
  const unsandboxed = hosts.filter((h) => !h.active);
  return {
    hosts,
    ...(unsandboxed.length && { warning: `agents run UNSANDBOXED on ${unsandboxed.map((h) => h.host).join(', ')}` }),
  };
}

export async function healthOf(d: HealthDeps) {
  const [temporal, database, sandbox] = await Promise.all([
    check(() => d.client.workflowService.getSystemInfo({})),
    check(() => d.db.execute(sql`select 1`)),
    sandboxSummary(d.dataDir),
  ]);
  return {
    ok: temporal.up && database.up,
    temporal: { ...temporal, address: d.temporalAddress, namespace: d.client.options.namespace },
    database,
    // Unsandboxed hosts do not make orch unhealthy, but they are said plainly.
    sandbox,
  };
}
