// The outcome of a webhook delivery, as recorded in `webhook_deliveries.outcome`: one of these
// words, optionally followed by `: <why>` (`ignored: …`, `rejected: …`, `error: …`). `decided`: a
// comment's `/approve` or `/reject` was taken by the task's approval stage.
export const DELIVERY_OUTCOMES = ['started', 'stop-signalled', 'decided', 'ignored', 'duplicate', 'rejected', 'error', 'processing'] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

/** Outcomes of a delivery orch acted on (or is acting on): a later one of the same content is a duplicate. */
export const ACTED_OUTCOMES = ['processing', 'started', 'stop-signalled', 'decided'] as const satisfies readonly DeliveryOutcome[];
