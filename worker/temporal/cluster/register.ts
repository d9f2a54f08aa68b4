// What a cluster's operator does once, done at every start and idempotently: the namespace
// (registerNamespace when describeNamespace finds none) and orch's search attributes through the
// operator API (only those the namespace lacks: adding one that exists is an error).
import type { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
// A CommonJS module whose named exports Node's ESM loader cannot see: the default import is the module.
import proto from '@temporalio/proto';
import { orchSearchAttributes } from '../../../workflows/contracts/names.js';
import { until } from '../../harness/until.js';

const KEYWORD = proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
const RETENTION = '7 days';

const isNotFound = (err: unknown) => (err as { code?: number })?.code === 5 || /not.?found/i.test((err as Error)?.message ?? '');

/** Registers the namespace unless it exists; true when it was registered now. */
export async function ensureNamespace(connection: Connection, namespace: string): Promise<boolean> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return false;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(RETENTION) });
  } catch (err) {
    // Registered meanwhile by another start: fine.
    if ((err as { code?: number })?.code !== 6) throw err;
  }
  // The frontend's namespace cache refreshes on its own schedule: wait until the namespace answers.
  await until(`namespace ${namespace} to be usable`, () =>
    connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 }).then(() => true, () => false), 60_000, 500);
  return true;
}

/** Adds orch's search attributes the namespace lacks; returns the names added. */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const names = Object.values(orchSearchAttributes).map((k) => k.name);
  const present = async () => Object.keys((await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {});
  const have = new Set(await present());
  const missing = names.filter((n) => !have.has(n));
  if (missing.length) {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing.map((n) => [n, KEYWORD])) });
    await until('the search attributes to be registered', async () => {
      const now = new Set(await present());
      return names.every((n) => now.has(n));
    }, 60_000, 500);
  }
  return missing;
}
