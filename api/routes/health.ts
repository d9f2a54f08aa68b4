// GET /healthz (no token: load balancers and `npm start` probe it).
import express, { type Router } from 'express';
import { healthOf, type HealthDeps } from '../health.js';

export function healthRoutes(d: HealthDeps): Router {
  return express.Router().get('/healthz', async (_req, res) => {
    const health = await healthOf(d);
    res.status(health.ok ? 200 : 503).json(health);
  });
}
