// GET /api/tasks/:key/logs[?follow=0]: the task's agent logs as Server-Sent Events (api/log-stream.ts).
import express, { type RequestHandler, type Router } from 'express';
import type { Records } from '../../db/records.js';
import { InvalidInputError, TaskNotFoundError } from '../errors.js';
import { streamLogs, type LogStreamDeps } from '../log-stream.js';
import { taskKeySchema } from '../task-input.js';

export function logRoutes(d: LogStreamDeps & { records: Pick<Records, 'findByKey'>; auth: RequestHandler }): Router {
  return express.Router().get('/api/tasks/:key/logs', d.auth, async (req, res) => {
    const parsed = taskKeySchema.safeParse(req.params.key);
    if (!parsed.success) throw new InvalidInputError(`key: ${parsed.error.issues[0]?.message ?? 'invalid'}`, { field: 'key' });
    const key = parsed.data;
    const row = await d.records.findByKey(key);
    if (!row) throw new TaskNotFoundError(key);
    const follow = !['0', 'false', 'no'].includes(String(req.query.follow ?? '1'));
    await streamLogs(d, res, row, key, follow);
  });
}
