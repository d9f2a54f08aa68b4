// POST /api/tasks/:key/approve and /reject: a person's decision on the approval stage the task
// waits in (api/approvals.ts). 200 with the decision's record; refusals in the house error shape.
import express, { type RequestHandler, type Router } from 'express';
import type { z } from 'zod';
import { approveBodySchema, parseDecision, rejectBodySchema, type DecisionBody } from '../approval-input.js';
import type { ApprovalService, DecisionKind } from '../approvals.js';
import { parseInput, taskKeySchema } from '../task-input.js';

export function approvalRoutes(d: { approvals: ApprovalService; auth: RequestHandler }): Router {
  const json = express.json({ limit: '64kb' });
  const route = (kind: DecisionKind, schema: z.ZodType<DecisionBody>): RequestHandler => async (req, res) => {
    const key = parseInput(taskKeySchema, req.params.key);
    const { via, ...body } = parseDecision(schema, req.body);
    res.json(await d.approvals.decide(key, kind, { ...body, via: via ?? 'api' }));
  };
  return express
    .Router()
    .post('/api/tasks/:key/approve', d.auth, json, route('approve', approveBodySchema))
    .post('/api/tasks/:key/reject', d.auth, json, route('reject', rejectBodySchema));
}
