// POST /api/reconcile: runs the orphan sweep across hosts (workflows/reconcile.ts) and answers its report.
import type { Client } from '@temporalio/client';
import express, { type RequestHandler, type Router } from 'express';
import { workflowTypes, type ReconcileWorkflow } from '../../workflows/contracts/index.js';

export function reconcileRoutes(d: { client: Client; taskQueue: string; auth: RequestHandler }): Router {
  return express.Router().post('/api/reconcile', d.auth, async (_req, res) => {
    const report = await d.client.workflow.execute<ReconcileWorkflow>(workflowTypes.reconcile, {
      taskQueue: d.taskQueue,
      workflowId: `reconcile-${new Date().toISOString()}`,
      args: [],
      workflowExecutionTimeout: '10m',
    });
    res.json(report);
  });
}
