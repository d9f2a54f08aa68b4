// GET /queue (api/queue/snapshot.ts); `orch queue` prints it.
import express, { type RequestHandler, type Router } from 'express';
import { queueSnapshot, type QueueDeps } from '../queue/snapshot.js';

export function queueRoutes(d: QueueDeps & { auth: RequestHandler }): Router {
  return express.Router().get('/queue', d.auth, async (_req, res) => {
    res.json(await queueSnapshot(d));
  });
}
