// POST /api/tasks, GET /api/tasks/:key, POST /api/tasks/:key/stop.
import express, { type Request, type RequestHandler, type Router } from 'express';
import { parseInput, startTaskSchema, stopBodySchema, taskKeySchema } from '../task-input.js';
import { sandboxSummary } from '../health.js';
import type { TaskService } from '../task-service.js';

export function taskRoutes(d: { tasks: TaskService; auth: RequestHandler; dataDir?: string }): Router {
  const json = express.json({ limit: '256kb' });
  const key = (req: Request) => parseInput(taskKeySchema, req.params.key);
  return express
    .Router()
    .post('/api/tasks', d.auth, json, async (req, res) => {
      res.status(202).json(await d.tasks.start(parseInput(startTaskSchema, req.body)));
    })
    .get('/api/tasks/:key', d.auth, async (req, res) => {
      const view = await d.tasks.get(key(req));
      // What the task waits for now (`approval`: a person), from the workflow's state, at the top.
      // And whether the hosts its agents ran on contain them.
      const hosts = [...new Set(view.jobs.map((j) => j.host).filter((h): h is string => !!h))];
      const sandbox = await sandboxSummary(d.dataDir, hosts);
      res.json({ ...view, waitingFor: view.state?.waitingFor ?? null, waitingSince: view.state?.waitingSince ?? null, sandbox });
    })
    .post('/api/tasks/:key/stop', d.auth, json, async (req, res) => {
      const body = parseInput(stopBodySchema, req.body);
      res.status(202).json(await d.tasks.stop(key(req), { reason: body.reason, requestedBy: body.requestedBy ?? 'api' }));
    });
}
