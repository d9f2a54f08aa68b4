// A delivery's text and payload, made fit to store (PostgreSQL refuses U+0000; rows stay small) and to quote.

/** PostgreSQL text and jsonb refuse U+0000. */
export const noNul = (s: string): string => s.replace(/\u0000/g, '\uFFFD');

/** At most `n` characters, an ellipsis marking the cut. */
export const cut = (s: string | null | undefined, n: number): string | null => (s == null ? null : s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Payloads above this many bytes are stored as a summary. */
export const STORED_PAYLOAD_MAX_BYTES = 64 * 1024;
/** Header values (and event/action names) are stored up to this length. */
export const HEADER_MAX = 200;

/** The stored payload: the whole body when small, else the fields that matter. */
export function storedPayload(json: unknown, bodyBytes: number): unknown {
  if (bodyBytes <= STORED_PAYLOAD_MAX_BYTES) return json;
  const p = (json ?? {}) as Record<string, any>;
  const d = (p.data ?? {}) as Record<string, any>;
  const a = (p.activity ?? {}) as Record<string, any>;
  return {
    truncated: true,
    bodyBytes,
    event: p.event,
    action: p.action,
    webhook_id: p.webhook_id,
    workspace_id: p.workspace_id,
    activity: { field: a.field, new_value: typeof a.new_value === 'string' ? cut(a.new_value, 200) : undefined, actor: { id: a.actor?.id } },
    data: { id: d.id, name: typeof d.name === 'string' ? cut(d.name, 500) : undefined, sequence_id: d.sequence_id, project: d.project, state: d.state },
  };
}
