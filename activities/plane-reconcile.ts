// The `reconcilePlane` activity: for each configured project, the states named like the start
// and the STOP state, then every work item (all pages, through the rate-limited client), and for
// those in one of them the task port's verdict (api/plane/reconcile.ts, wired by the worker). A
// project that fails (Plane away, a rejected key) is reported and the others still run; the next
// scheduled run tries again.
import { Context } from '@temporalio/activity';
import type { PlaneReconcileActivities, PlaneReconcileConfig, PlaneReconcileReport, PlaneTaskPort } from '../workflows/contracts/index.js';
import type { PlaneClient } from './adapters/plane-client.js';

export interface PlaneReconcileDeps {
  client: PlaneClient | null;
  /** Live: read at every run. */
  config?: PlaneReconcileConfig;
  tasks?: PlaneTaskPort;
}

const same = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();
const stateIdOf = (s: unknown): string | null => (typeof s === 'string' ? s : s && typeof s === 'object' && 'id' in s ? String((s as { id: unknown }).id) : null);

/** An error in a line: drizzle's "Failed query: …" says little without its cause (e.g. ECONNREFUSED). */
function why(err: unknown): string {
  const e = err as Error & { cause?: unknown };
  const text = `${String(e?.message ?? err).split('\n')[0]}${e?.cause instanceof Error ? ` (${e.cause.message})` : ''}`;
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
}

/** A heartbeat when running as an activity (a unit test calls it directly). */
function beat(): void {
  try {
    Context.current().heartbeat();
  } catch {
    // not in an activity
  }
}

export function createPlaneReconcileActivities(d: PlaneReconcileDeps): PlaneReconcileActivities {
  return {
    async reconcilePlane() {
      const report: PlaneReconcileReport = { at: new Date().toISOString(), projects: [], acted: [] };
      const { client, config, tasks } = d;
      if (!client || !config || !tasks) return { ...report, skipped: 'Plane is not configured (PLANE_BASE_URL, PLANE_API_KEY, PLANE_WORKSPACE_SLUG)' };
      for (const [projectId, ref] of Object.entries(config.projects)) {
        const entry: PlaneReconcileReport['projects'][number] = { projectId, identifier: ref.identifier, listed: 0, inStart: 0, inStop: 0 };
        report.projects.push(entry);
        try {
          const states = await client.listStates(projectId);
          const startIds = new Set(states.filter((s) => same(s.name, config.startState)).map((s) => s.id));
          const stopIds = new Set(states.filter((s) => same(s.name, config.stopState)).map((s) => s.id));
          if (startIds.size === 0 && stopIds.size === 0) {
            entry.error = `the project has no state named "${config.startState}" or "${config.stopState}"`;
            continue;
          }
          beat();
          const items = await client.listWorkItems(projectId);
          entry.listed = items.length;
          for (const item of items) {
            const stateId = stateIdOf(item.state);
            const want: 'start' | 'stop' | null = stateId && startIds.has(stateId) ? 'start' : stateId && stopIds.has(stateId) ? 'stop' : null;
            if (!want || typeof item.sequence_id !== 'number') continue;
            entry[want === 'start' ? 'inStart' : 'inStop']++;
            beat();
            const action = await tasks
              .reconcile({
                projectId,
                workItemId: item.id,
                sequenceId: item.sequence_id,
                name: item.name ?? '',
                descriptionStripped: item.description_stripped ?? null,
                descriptionHtml: item.description_html ?? null,
                updatedAt: item.updated_at ?? null,
                want,
              })
              .catch((err: unknown) => ({ key: `${ref.identifier}-${item.sequence_id}`, workItemId: item.id, want, outcome: `error: ${why(err)}` }));
            if (action) report.acted.push(action);
          }
        } catch (err) {
          entry.error = why(err);
        }
      }
      return report;
    },
  };
}
