// What the Plane bridge reads of orch's Plane config (worker/config.ts's PlaneConfig has it all).
// The object is live: a change (tests do this) applies to the next delivery.

/** A Plane project orch serves: its identifier makes task keys (`DEMO-12`), its repo is in orch.yaml. */
export interface PlaneProjectRef {
  identifier: string;
  repo: string;
}

export interface PlaneBridgeConfig {
  /** HMAC key of the webhook. Without it the webhook answers 503: unsigned input is never accepted. */
  webhookSecret: string | undefined;
  /** The Plane user orch's API key acts as: deliveries caused by orch's own writes carry it as actor. */
  botUserId: string | undefined;
  /** Plane project id (lower-case) → identifier and repo. */
  projects: Record<string, PlaneProjectRef>;
  /** Where `projects` came from (a file path, or `inline`), for messages. */
  projectsSource: string;
  /** State names, matched case-insensitively after trimming. */
  startState: string;
  stopState: string;
  /** When false, a move to the STOP state is logged and ignored. */
  stopStatusEnabled: boolean;
  /** Repos whose tasks a STOP state may stop; empty = all. */
  stopStatusRepos: string[];
  /** Largest body accepted (read when the router is made). */
  webhookMaxBytes: number;
  /** Two deliveries of the same content (work item + state) within this window: the second is a duplicate. */
  dedupeWindowMs: number;
}

/**
 * What the webhook runs with when the app is given no Plane config: everything answers 503. The
 * Plane client's fields are here too (undefined), so a whole Plane config can be spread from it.
 */
export const PLANE_WEBHOOK_DISABLED = {
  webhookSecret: undefined,
  baseUrl: undefined,
  apiKey: undefined,
  workspaceSlug: undefined,
  botUserId: undefined,
  projects: {} as Record<string, PlaneProjectRef>,
  projectsSource: 'none',
  startState: 'To Analyse',
  stopState: 'STOP',
  stopStatusEnabled: true,
  stopStatusRepos: [] as string[],
  webhookMaxBytes: 256 * 1024,
  dedupeWindowMs: 60_000,
  /** The reconciler is off without the Plane API (and here, where tests turn it on themselves). */
  reconcileIntervalMs: null as number | null,
} satisfies PlaneBridgeConfig & Record<'baseUrl' | 'apiKey' | 'workspaceSlug', undefined> & { reconcileIntervalMs: number | null };
