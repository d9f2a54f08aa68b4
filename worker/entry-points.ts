// The orch processes as npm start, the tests and the bench spawn them: `node --import tsx <entry>`
// from the checkout (package.json's `worker` and `api` scripts run the same files).
import path from 'node:path';
import { projectDir } from './config/project-dir.js';

export const ENTRY_POINTS = { worker: 'worker/main.ts', api: 'worker/api-main.ts' } as const;

/** The arguments after `process.execPath` that run an orch process from source. */
export const entryArgs = (entry: keyof typeof ENTRY_POINTS): string[] => ['--import', 'tsx', path.join(projectDir, ENTRY_POINTS[entry])];
