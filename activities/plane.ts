// The `notifyPlane` activity: one progress comment on the task's Plane work item.
import { ApplicationFailure } from '@temporalio/common';
import type { PlaneActivities } from '../workflows/contracts/index.js';
import { formatProgressComment, PlaneApiError, planeClientFrom, type PlaneClient, type PlaneClientConfig } from './adapters/plane-client.js';

/**
 * Best effort from the pipeline's point of view: not configured / no Plane ids / the work item is
 * gone → `{sent: false, reason}`. A rejected API key or a refused body fails without retry
 * (retrying cannot fix it); rate limits, 5xx and network errors throw and are retried by Temporal.
 * A retry after a lost answer may post the comment twice: Plane has no idempotency key for comments.
 */
export function createPlaneActivities(deps: { config?: PlaneClientConfig; client?: PlaneClient }): PlaneActivities {
  const client = deps.client ?? planeClientFrom(deps.config ?? {});
  return {
    async notifyPlane({ planeProjectId, planeIssueId, update }) {
      if (!client) return { sent: false, reason: 'plane not configured' };
      if (!planeProjectId || !planeIssueId) return { sent: false, reason: 'task has no plane ids' };
      try {
        await client.addComment(planeProjectId, planeIssueId, formatProgressComment(update));
        return { sent: true };
      } catch (err) {
        if (err instanceof PlaneApiError) {
          if (err.status === 404) return { sent: false, reason: `work item not found in Plane: ${err.message}` };
          if (err.status >= 400 && err.status < 500 && err.status !== 429 && err.status !== 408) {
            throw ApplicationFailure.nonRetryable(err.message, 'PlaneApiError');
          }
        }
        throw err;
      }
    },
  };
}
