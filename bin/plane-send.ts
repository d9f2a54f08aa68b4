// Sends one Plane-shaped, Plane-signed webhook delivery to orch: try the bridge without a Plane.
//   PLANE_WEBHOOK_SECRET=s3cret npx tsx bin/plane-send.ts --state "To Analyse" --item 42 --title "Say hello"
//   PLANE_WEBHOOK_SECRET=s3cret npx tsx bin/plane-send.ts --comment "/approve looks good" --item 42
// The work item belongs to the demo project (identifier DEMO → repo demo), so it becomes task DEMO-42.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { planeDelivery } from '../workflows/contracts/plane-wire.js';
import { DEMO_PROJECT_ID, demoStates, planeCommentPayload, planeIssuePayload, type PlaneStateRef } from './plane-payload.js';

const { values } = parseArgs({
  options: {
    state: { type: 'string', default: 'To Analyse' },
    item: { type: 'string', default: '1' },
    title: { type: 'string', default: 'Try the Plane bridge' },
    description: { type: 'string' },
    /** A comment on the work item instead of a move (`/approve …`, `/reject <why>`). */
    comment: { type: 'string' },
    url: { type: 'string', default: `${process.env.ORCH_API_URL ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`}/webhooks/plane` },
    'work-item-id': { type: 'string' },
  },
});

const secret = process.env.PLANE_WEBHOOK_SECRET;
if (!secret) {
  process.stderr.write('plane-send: set PLANE_WEBHOOK_SECRET to the secret orch was started with\n');
  process.exit(2);
}
const state: PlaneStateRef =
  Object.values(demoStates).find((s) => s.name.toLowerCase() === values.state!.toLowerCase()) ??
  { id: randomUUID(), name: values.state!, group: 'started' };
const sequenceId = Number(values.item);
// A stable work item id per sequence number, so a later STOP refers to the same item.
const issueId = values['work-item-id'] ?? `00000000-0000-4000-8000-${String(sequenceId).padStart(12, '0')}`;
const payload =
  values.comment !== undefined
    ? planeCommentPayload({ issueId, projectId: DEMO_PROJECT_ID, commentHtml: `<p>${values.comment.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</p>` })
    : planeIssuePayload({ state, sequenceId, issueId, projectId: DEMO_PROJECT_ID, name: values.title, descriptionStripped: values.description ?? null });
const delivery = planeDelivery(payload, { secret });
const res = await fetch(values.url!, { method: 'POST', headers: delivery.headers, body: delivery.body }).catch((err: Error) => {
  process.stderr.write(`plane-send: cannot reach ${values.url}: ${err.message}\n`);
  process.exit(3);
});
process.stdout.write(`${res.status} ${await res.text()}\n`);
process.exit(res.ok ? 0 : 1);
