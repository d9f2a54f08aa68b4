// GET /metrics: orch's own Prometheus metrics, read from the records (api/metrics.ts). Behind the token like the API.
import express, { type RequestHandler, type Router } from 'express';
import type { ApiMetrics } from '../metrics.js';

export function metricsRoutes(d: { metrics: ApiMetrics; auth: RequestHandler }): Router {
  return express.Router().get('/metrics', d.auth, d.metrics.handler);
}
