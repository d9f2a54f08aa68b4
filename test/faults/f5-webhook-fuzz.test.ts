// F5: webhook fuzz. Generated Plane deliveries against the real API (and its database and Temporal
// client): mutated signatures and bodies, wrong field types and sizes, truncated JSON, replays,
// echoes of orch's own writes, other events and states, and valid moves of a bounded set of work
// items. The API must keep answering (every status 2xx/400/401/413/503, never 500, no dropped
// connection), record every delivery, start nothing from unsigned or badly signed input, and start
// exactly one workflow per work item that was validly moved to To Analyse.
//
// No worker runs: the workflows the webhook starts stay on this env's queue (and are terminated
// at the end), so the count is exact and nothing else is exercised.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/env.js';
import {
  botActor,
  demoStates,
  humanActor,
  planeIssuePayload,
  pyFloat,
  pythonJsonDumps,
  settledDelivery,
  signPlane,
  type PlaneStateRef,
} from '../support/plane.js';
import { keyBase, poll, pool, scenario, size, trackRemote } from './support.js';

const SECRET = 'f5-plane-secret';
const DELIVERIES = size(1000, 10_000);
const VALID_ITEMS = size(5, 20);
const POISON_ITEMS = size(20, 100);
const IN_FLIGHT = 16;
const ALLOWED = (status: number) => (status >= 200 && status < 300) || [400, 401, 413, 503].includes(status);

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with ORCH_FAULTS_SEED. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}

interface Item {
  seq: number;
  id: string;
  valid: boolean;
}

interface Delivery {
  kind: string;
  body: string | Buffer;
  headers: Record<string, string>;
  /** A signed, well-formed move of this item to To Analyse by a human: it must start (at most) its workflow. */
  startsItem?: Item;
}

describe('F5: Plane webhook fuzz', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv('f5fuzz', { worker: false, plane: { webhookSecret: SECRET, botUserId: botActor.id } });
    trackRemote('F5', env);
  });
  afterAll(async () => {
    if (env) {
      // Nothing polls this queue: end the workflows the webhook started.
      for await (const w of env.client.workflow.list({ query: `TaskQueue="${env.taskQueue}" AND ExecutionStatus="Running"` })) {
        await env.client.workflow.getHandle(w.workflowId, w.runId).terminate('F5 cleanup').catch(() => undefined);
      }
      await env.cleanup();
    }
  });

  it(`${DELIVERIES} generated deliveries: no crash, nothing from bad signatures, one workflow per validly moved item`, async () => {
    const s = scenario('F5', 'Plane webhook fuzz');
    await s.run(async () => {
      const seed = Number(process.env.ORCH_FAULTS_SEED) || Math.floor(Math.random() * 2 ** 31);
      const r = prng(seed);
      const base = keyBase() * 10;
      const items: Item[] = [
        ...Array.from({ length: VALID_ITEMS }, (_, i) => ({ seq: base + i, id: randomUUID(), valid: true })),
        ...Array.from({ length: POISON_ITEMS }, (_, i) => ({ seq: base + 1000 + i, id: randomUUID(), valid: false })),
      ];
      const valid = items.filter((i) => i.valid);
      const url = `${env.apiUrl}/webhooks/plane`;

      const payloadOf = (item: Item, o: { state?: PlaneStateRef; field?: string | null; actor?: typeof humanActor; description?: string } = {}) =>
        planeIssuePayload({
          sequenceId: item.seq,
          issueId: item.id,
          name: `fuzz item ${item.seq}`,
          state: o.state ?? demoStates.toAnalyse,
          oldState: demoStates.backlog,
          field: o.field === undefined ? r.pick(['state', 'state_id']) : o.field,
          actor: o.actor ?? humanActor,
          descriptionStripped: o.description ?? 'fuzzed',
        }) as Record<string, any>;
      const headersFor = (body: string | Buffer, signature: string | null, extra: Record<string, string> = {}) => {
        const h: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Autopilot', 'x-plane-delivery': randomUUID(), 'x-plane-event': 'issue', ...extra };
        if (signature !== null) h['x-plane-signature'] = signature;
        return h;
      };
      const signed = (kind: string, payload: unknown, startsItem?: Item): Delivery => {
        const body = typeof payload === 'string' ? payload : pythonJsonDumps(payload);
        return { kind, body, headers: headersFor(body, signPlane(body, SECRET)), startsItem };
      };
      const hex = (n: number) => Array.from({ length: n }, () => '0123456789abcdef'[r.int(16)]).join('');

      // ---- mutations that can never make a valid start (safe for any item) ---------------------
      const breakers: [string, (p: Record<string, any>) => void][] = [
        ['data.id number', (p) => (p.data.id = r.int(1e6))],
        ['data.id null', (p) => (p.data.id = null)],
        ['data.id object', (p) => (p.data.id = { x: 1 })],
        ['data.id empty', (p) => (p.data.id = '   ')],
        ['sequence_id negative', (p) => (p.data.sequence_id = -r.int(1000) - 1)],
        ['sequence_id zero', (p) => (p.data.sequence_id = 0)],
        ['sequence_id float', (p) => (p.data.sequence_id = pyFloat(1.5))],
        ['sequence_id huge', (p) => (p.data.sequence_id = 10 ** 12)],
        ['sequence_id word', (p) => (p.data.sequence_id = 'twelve')],
        ['sequence_id array', (p) => (p.data.sequence_id = [p.data.sequence_id])],
        ['sequence_id padded', (p) => (p.data.sequence_id = ` ${p.data.sequence_id}`)],
        ['state null', (p) => (p.data.state = null)],
        ['state string', (p) => (p.data.state = 'To Analyse')],
        ['state.name number', (p) => (p.data.state = { ...p.data.state, name: 42 })],
        ['state.name missing', (p) => delete p.data.state.name],
        ['project missing', (p) => delete p.data.project],
        ['project unmapped', (p) => (p.data.project = randomUUID())],
        ['name too long', (p) => (p.data.name = 'n'.repeat(10_001 + r.int(5000)))],
        ['activity null', (p) => (p.activity = null)],
        ['activity string', (p) => (p.activity = 'state')],
        ['actor missing', (p) => delete p.activity.actor],
        ['actor.id null', (p) => (p.activity.actor.id = null)],
        ['field number', (p) => (p.activity.field = 7)],
        ['field name', (p) => (p.activity.field = 'name')],
        ['field null', (p) => (p.activity.field = null)],
        ['event comment', (p) => (p.event = 'issue_comment')],
        ['event number', (p) => (p.event = 1)],
        ['event empty', (p) => (p.event = '')],
        ['action deleted', (p) => (p.action = 'deleted')],
        ['action missing', (p) => delete p.action],
        ['data missing', (p) => delete p.data],
        ['state In Progress', (p) => (p.data.state = { ...demoStates.inProgress })],
        ['state Done', (p) => (p.data.state = { ...demoStates.done })],
        ['state look-alike', (p) => (p.data.state = { ...demoStates.toAnalyse, name: 'To Analyse later' })],
        ['echo of the bot', (p) => (p.activity.actor = { ...p.activity.actor, id: botActor.id })],
      ];
      // ---- mutations that keep a valid move valid, for the same item (valid items only) --------
      const keepers: [string, (p: Record<string, any>) => void][] = [
        ['sequence_id as string', (p) => (p.data.sequence_id = String(p.data.sequence_id))],
        ['state name case/space', (p) => (p.data.state = { ...p.data.state, name: '  to analyse ' })],
        ['unicode name', (p) => (p.data.name = 'Zürich 🚀 \u0000 ✓')],
        ['big description', (p) => (p.data.description_stripped = 'd'.repeat(50_000 + r.int(150_000)))],
        ['extra fields', (p) => ((p.data.extra = { nested: [1, 2, { deep: true }] }), (p.whatever = null))],
        ['created action', (p) => (p.action = 'created')],
      ];

      const sent: Delivery[] = [];
      const generate = (): Delivery => {
        const item = r.pick(items);
        const roll = r.next();
        if (roll < 0.12 && item.valid) return signed('valid move', payloadOf(item), item);
        if (roll < 0.2 && item.valid) {
          const [name, f] = r.pick(keepers);
          const p = payloadOf(item);
          f(p);
          return signed(`valid, ${name}`, p, item);
        }
        if (roll < 0.27 && sent.length) {
          // A replay: the same bytes and signature again (a copy of any earlier delivery).
          const prior = r.pick(sent);
          const headers = r.next() < 0.5 ? prior.headers : { ...prior.headers, 'x-plane-delivery': randomUUID() };
          return { kind: `replay of ${prior.kind}`, body: prior.body, headers, startsItem: prior.startsItem };
        }
        if (roll < 0.47) {
          const [name, f] = r.pick(breakers);
          const p = payloadOf(item);
          f(p);
          return signed(`signed, ${name}`, p);
        }
        if (roll < 0.52) return signed('STOP move', payloadOf(item, { state: demoStates.stop }));
        if (roll < 0.72) {
          // Bad or missing signatures over payloads that would otherwise start the item.
          const body = pythonJsonDumps(payloadOf(item));
          const good = signPlane(body, SECRET);
          const variant = r.int(9);
          const sig = [
            () => signPlane(body, 'not-the-secret'),
            () => null,
            () => '',
            () => hex(64),
            () => good.slice(0, 63),
            () => `sha256=${good}`,
            () => `${good}00`,
            () => good.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')),
            () => signPlane(`${body} `, SECRET),
          ][variant]!();
          return { kind: `bad signature #${variant}`, body, headers: headersFor(body, sig) };
        }
        if (roll < 0.82) {
          // Signed, then altered in transit.
          const body = pythonJsonDumps(payloadOf(item));
          const sig = signPlane(body, SECRET);
          const variant = r.int(4);
          const altered = [
            () => body.replace(`"sequence_id": ${item.seq}`, `"sequence_id": ${item.seq + 1}`),
            () => body.replace('"To Analyse"', '"To  Analyse"'),
            () => `${body}\n`,
            () => body.slice(0, Math.max(1, r.int(body.length))),
          ][variant]!();
          return { kind: `tampered #${variant}`, body: altered, headers: headersFor(altered, sig) };
        }
        if (roll < 0.9) {
          // Signed junk: truncated JSON, other JSON values, empty, binary, deep nesting.
          const body = pythonJsonDumps(payloadOf(item));
          const [what, junk] = r.pick<[string, () => string | Buffer]>([
            ['truncated', () => body.slice(0, 1 + r.int(body.length - 1))],
            ['array', () => '[]'],
            ['string', () => '"issue"'],
            ['null', () => 'null'],
            ['number', () => '42'],
            ['empty', () => ''],
            ['shapeless', () => '{"event": "issue", "action": "updated", "data": {}, "activity": {}}'],
            ['deep', () => `${'['.repeat(5000)}${']'.repeat(5000)}`],
            ['binary', () => Buffer.from(Array.from({ length: 200 + r.int(2000) }, () => r.int(256)))],
          ]);
          const raw = junk();
          return { kind: `signed junk: ${what}`, body: raw, headers: headersFor(raw, signPlane(raw, SECRET)) };
        }
        if (roll < 0.93) {
          // Over the size limit (a body Plane would never send), signed or not.
          const body = pythonJsonDumps(payloadOf(item, { description: 'x'.repeat(260 * 1024 + r.int(64 * 1024)) }));
          return { kind: 'oversized', body, headers: headersFor(body, r.next() < 0.5 ? signPlane(body, SECRET) : null) };
        }
        // Odd headers around a non-starting, signed body.
        const p = payloadOf(item, { state: r.pick([demoStates.inProgress, demoStates.done, demoStates.backlog]) });
        const body = pythonJsonDumps(p);
        const [what, extra] = r.pick<[string, Record<string, string>]>([
          ['text/plain', { 'content-type': 'text/plain' }],
          ['form', { 'content-type': 'application/x-www-form-urlencoded' }],
          ['event project', { 'x-plane-event': 'project' }],
          ['long delivery id', { 'x-plane-delivery': 'd'.repeat(1000) }],
          ['empty delivery id', { 'x-plane-delivery': '' }],
          ['no user agent', { 'user-agent': '' }],
        ]);
        return { kind: `odd headers: ${what}`, body, headers: headersFor(body, signPlane(body, SECRET), extra) };
      };

      // The stream: random deliveries, with one clean valid move of every valid item somewhere in it.
      const plan: Delivery[] = [];
      for (let i = 0; i < DELIVERIES - valid.length; i++) {
        const d = generate();
        plan.push(d);
        sent.push(d);
      }
      for (const item of valid) plan.splice(r.int(plan.length + 1), 0, signed('valid move', payloadOf(item), item));

      const statuses = new Map<number, number>();
      const kinds = new Map<string, Map<number, number>>();
      const bad: string[] = [];
      let health = 0;
      const t0 = Date.now();
      await pool(plan, IN_FLIGHT, async (d, i) => {
        let status: number;
        try {
          const res = await fetch(url, { method: 'POST', headers: d.headers, body: d.body, signal: AbortSignal.timeout(30_000) });
          status = res.status;
          const text = await res.text();
          if (!ALLOWED(status)) bad.push(`#${i} ${d.kind}: ${status} ${text.slice(0, 200)}`);
        } catch (err) {
          status = -1;
          bad.push(`#${i} ${d.kind}: no answer (${(err as Error).message})`);
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        const k = d.kind.replace(/ #\d+$/, '').replace(/^replay of .*/, 'replay');
        const m = kinds.get(k) ?? new Map<number, number>();
        m.set(status, (m.get(status) ?? 0) + 1);
        kinds.set(k, m);
        if (i % 500 === 0) {
          const h = await fetch(`${env.apiUrl}/healthz`);
          if (h.status !== 200) bad.push(`healthz answered ${h.status} after #${i}`);
          health++;
        }
      });
      const fuzzMs = Date.now() - t0;

      // Still answering, and still working: a fresh item's valid move starts its task.
      const probe: Item = { seq: base + 5000, id: randomUUID(), valid: true };
      const probeDelivery = signed('probe', payloadOf(probe));
      const probeRes = await fetch(url, { method: 'POST', headers: probeDelivery.headers, body: probeDelivery.body }).then(async (res) => ({ status: res.status, body: (await res.json()) as any }));
      expect(probeRes.status, JSON.stringify(probeRes.body)).toBe(202);
      expect(probeRes.body.outcome).toBe('accepted');
      expect((await settledDelivery(env.database.sql, probeDelivery.headers['x-plane-delivery']!)).outcome).toBe('started');

      // Exactly the workflows of the validly moved items (and the probe), one run each.
      const moved = new Set(plan.filter((d) => d.startsItem).map((d) => `task-DEMO-${d.startsItem!.seq}`));
      moved.add(`task-DEMO-${probe.seq}`);
      const runs = new Map<string, number>();
      await poll('visibility to show the started workflows', async () => {
        runs.clear();
        for await (const w of env.client.workflow.list({ query: `TaskQueue="${env.taskQueue}"` })) runs.set(w.workflowId, (runs.get(w.workflowId) ?? 0) + 1);
        return [...moved].every((id) => runs.has(id));
      }, 30_000, 500);
      await new Promise((res) => setTimeout(res, 1500));
      runs.clear();
      for await (const w of env.client.workflow.list({ query: `TaskQueue="${env.taskQueue}"` })) runs.set(w.workflowId, (runs.get(w.workflowId) ?? 0) + 1);
      const unexpected = [...runs.keys()].filter((id) => !moved.has(id));
      const multiple = [...runs.entries()].filter(([, n]) => n !== 1);

      // Every delivery is a row; none with a bad signature acted.
      const [{ n: rows } = { n: -1 }] = await env.database.sql<{ n: number }[]>`select count(*)::int as n from webhook_deliveries`;
      const [{ n: actedUnsigned } = { n: -1 }] = await env.database.sql<{ n: number }[]>`
        select count(*)::int as n from webhook_deliveries where not signature_valid and outcome in ('started', 'stop-signalled', 'processing')`;
      const outcomes = await env.database.sql<{ outcome: string; n: number }[]>`
        select split_part(outcome, ':', 1) as outcome, count(*)::int as n from webhook_deliveries group by 1 order by 2 desc`;

      // Deliveries without a row (by delivery id), for the failure message.
      const ids = new Set((await env.database.sql<{ id: string | null }[]>`select delivery_id as id from webhook_deliveries`).map((x) => x.id));
      const cut = (id: string) => (id.length > 200 ? `${id.slice(0, 199)}…` : id);
      const unrecordedKinds = new Map<string, number>();
      for (const d of plan) {
        if (!d.headers['x-plane-delivery'] || ids.has(cut(d.headers['x-plane-delivery']))) continue;
        const k = d.kind.replace(/^(replay of )+/, '');
        unrecordedKinds.set(k, (unrecordedKinds.get(k) ?? 0) + 1);
      }
      const unrecorded = [...unrecordedKinds.entries()].map(([k, n]) => `${k} ×${n}`);

      s.rec.trials = plan.length + 1;
      s.rec.outcomes.other = plan.length + 1;
      s.note(`seed ${seed} (replay with ORCH_FAULTS_SEED=${seed}); ${plan.length} deliveries in ${(fuzzMs / 1000).toFixed(1)} s, ${IN_FLIGHT} in flight; ${valid.length} validly moved items, ${POISON_ITEMS} items only ever sent unsigned, badly signed or invalid input; ${health} health checks.`);
      s.note(`HTTP statuses: ${[...statuses.entries()].sort((a, b) => a[0] - b[0]).map(([k, n]) => `${k} ×${n}`).join(', ')}.`);
      s.note(`recorded outcomes: ${outcomes.map((o) => `${o.outcome} ×${o.n}`).join(', ')}; ${rows} rows for ${plan.length + 1} deliveries.`);
      if (unrecorded.length) s.note(`deliveries answered but not recorded (by kind): ${unrecorded.join(', ')}.`);
      s.note(`workflows started: ${runs.size} (validly moved items + the final probe: ${moved.size}); unexpected: ${unexpected.length}; with more than one run: ${multiple.length}.`);
      s.note('Checks: no input crashes the webhook or turns into a 500; unsigned and badly signed deliveries never start anything; replays, state/state_id pairs and echoes never make a second workflow.');

      const problems: string[] = [];
      if (bad.length) problems.push(`${bad.length} answer(s) outside 2xx/400/401/413/503 or missing: ${bad.slice(0, 10).join('; ')}`);
      if (unexpected.length) problems.push(`workflows nobody validly asked for: ${unexpected.join(', ')}`);
      if (multiple.length) problems.push(`work items with more than one run: ${multiple.map(([id, n]) => `${id} ×${n}`).join(', ')}`);
      const missing = [...moved].filter((id) => !runs.has(id));
      if (missing.length) problems.push(`validly moved items without a workflow: ${missing.join(', ')}`);
      if (actedUnsigned) problems.push(`${actedUnsigned} delivery row(s) without a valid signature acted`);
      if (rows !== plan.length + 1) problems.push(`${plan.length + 1 - rows} of ${plan.length + 1} deliveries answered but not recorded in webhook_deliveries (by kind: ${unrecorded.join(', ')})`);
      s.check(problems);
    });
  });
});
