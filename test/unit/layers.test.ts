// The layer rules (.dependency-cruiser.cjs): the code keeps them, docs/architecture.md shows them
// as they are, and each rule catches a planted violation.
import { mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ICruiseResult } from 'dependency-cruiser';
import { beforeAll, describe, expect, it } from 'vitest';
import { DOC_FILE, ROOT, cruiseLayers, formatViolations, layersSection, withSection } from '../../worker/dev/architecture.js';

const PLANTED = `__planted_${process.pid}`;

describe('the code', () => {
  let result: ICruiseResult;
  // Planted files of a concurrent run of this file are not the code.
  // One cruise of the whole tree: a few seconds, more on a busy machine.
  beforeAll(async () => {
    result = await cruiseLayers(undefined, { exclude: { path: '__planted_' } });
  }, 120_000);

  it('keeps the layer rules', async () => {
    const errors = result.summary.violations.filter((violation) => violation.rule.severity === 'error');
    const { text } = await formatViolations(result);
    expect(errors, text).toEqual([]);
  });

  it('is what docs/architecture.md shows (else run npm run docs:architecture)', async () => {
    const doc = await readFile(DOC_FILE, 'utf8');
    expect(doc, 'docs/architecture.md is stale: run npm run docs:architecture').toBe(withSection(doc, layersSection(result)));
  });
});

// Each planted file: its content, and the rules it must break (none: the import is allowed).
// The .ts files type-check (a concurrent `tsc --noEmit` sees them); the one unresolvable import
// is in a .mjs file, which tsc does not read.
const p = PLANTED;
const PLANTS: { file: string; text: string; breaks: string[]; cycle?: string }[] = [
  // targets
  ...['activities', 'api', 'db', 'worker', 'bench', 'test'].map((dir) => ({ file: `${dir}/${p}_target.ts`, text: 'export type Planted = 1;\n', breaks: [] })),
  { file: `worker/config/${p}-schema.ts`, text: 'export type PlantedConfig = 1;\n', breaks: [] },
  { file: `workflows/contracts/${p}_value.ts`, text: 'export const planted = 1;\n', breaks: [] },

  // workflows/
  { file: `workflows/${p}_activities.ts`, text: `import '../activities/${p}_target.js';\n`, breaks: ['workflows-sdk-and-contracts-only'] },
  { file: `workflows/${p}_builtin.ts`, text: `import 'node:fs';\n`, breaks: ['workflows-sdk-and-contracts-only'] },
  { file: `workflows/${p}_package_type.ts`, text: `import type { Context } from '@temporalio/activity';\nexport type C = Context;\n`, breaks: ['workflows-sdk-and-contracts-only'] },
  {
    file: `workflows/${p}_sdk.ts`,
    text: `import '@temporalio/workflow';\nimport '@temporalio/common/lib/time.js';\nimport './contracts/${p}_value.js';\n`,
    breaks: [],
  },
  { file: `workflows/${p}_plane_wire.ts`, text: `import './contracts/plane-wire.js';\n`, breaks: ['contracts-plane-wire-outside-workflows'] },
  // workflows/contracts/
  { file: `workflows/contracts/${p}_plane_wire.ts`, text: `import './plane-wire.js';\n`, breaks: ['contracts-plane-wire-outside-workflows'] },
  { file: `workflows/contracts/${p}_plane_wire_type.ts`, text: `import type * as wire from './plane-wire.js';\nexport type W = typeof wire;\n`, breaks: [] },
  { file: `workflows/contracts/${p}_zod.ts`, text: `import 'zod';\n`, breaks: ['contracts-pure'] },
  { file: `workflows/contracts/${p}_crypto.ts`, text: `import 'node:crypto';\n`, breaks: ['contracts-pure'] },
  { file: `workflows/contracts/${p}_schema_value.ts`, text: `import '../../worker/config/${p}-schema.js';\n`, breaks: ['contracts-pure'] },
  { file: `workflows/contracts/${p}_worker_type.ts`, text: `import type { Planted } from '../../worker/${p}_target.js';\nexport type P = Planted;\n`, breaks: ['contracts-types-from-schemas'] },
  {
    file: `workflows/contracts/${p}_types.ts`,
    text: `import type { z } from 'zod';\nimport type { PlantedConfig } from '../../worker/config/${p}-schema.js';\nexport type P = PlantedConfig | z.ZodType;\n`,
    breaks: [],
  },
  // activities/ and activities/adapters/
  { file: `activities/${p}_worker.ts`, text: `import '../worker/${p}_target.js';\n`, breaks: ['activities-adapters-db-contracts'] },
  { file: `activities/${p}_api.ts`, text: `import '../api/${p}_target.js';\n`, breaks: ['activities-adapters-db-contracts'] },
  { file: `activities/${p}_workflow.ts`, text: `import '../workflows/${p}_sdk.js';\n`, breaks: ['activities-adapters-db-contracts'] },
  {
    file: `activities/${p}_allowed.ts`,
    text: `import 'node:fs';\nimport 'execa';\nimport '@temporalio/activity';\nimport '../db/${p}_target.js';\nimport '../workflows/contracts/${p}_value.js';\n`,
    breaks: [],
  },
  { file: `activities/adapters/${p}_activity.ts`, text: `import '@temporalio/activity';\n`, breaks: ['adapters-without-temporal-activity'] },
  { file: `activities/adapters/${p}_up.ts`, text: `import '../${p}_target.js';\n`, breaks: ['adapters-below-activities'] },
  // db/
  { file: `db/${p}_api.ts`, text: `import '../api/${p}_target.js';\n`, breaks: ['db-contracts-only'] },
  { file: `db/${p}_activities.ts`, text: `import '../activities/${p}_target.js';\n`, breaks: ['db-contracts-only'] },
  // api/
  { file: `api/${p}_worker.ts`, text: `import '../worker/${p}_target.js';\n`, breaks: ['api-db-contracts-client'] },
  { file: `api/${p}_activities.ts`, text: `import '../activities/${p}_target.js';\n`, breaks: ['api-db-contracts-client'] },
  { file: `api/${p}_allowed.ts`, text: `import '@temporalio/client';\nimport '../db/${p}_target.js';\nimport '../workflows/contracts/${p}_value.js';\n`, breaks: [] },
  // bin/
  { file: `bin/${p}_db.ts`, text: `import '../db/${p}_target.js';\n`, breaks: ['bin-contracts-and-http'] },
  { file: `bin/${p}_api.ts`, text: `import type { Planted } from '../api/${p}_target.js';\nexport type P = Planted;\n`, breaks: ['bin-contracts-and-http'] },
  { file: `bin/${p}_contract_value.ts`, text: `import { planted } from '../workflows/contracts/${p}_value.js';\nexport const p = planted;\n`, breaks: ['bin-contracts-types'] },
  {
    file: `bin/${p}_allowed.ts`,
    text: `import { TASK_STATUSES } from '../workflows/contracts/status.js';\nimport { taskWorkflowId } from '../workflows/contracts/names.js';\nimport type { TaskInput } from '../workflows/contracts/index.js';\nexport const p: [typeof TASK_STATUSES, typeof taskWorkflowId, TaskInput?] = [TASK_STATUSES, taskWorkflowId];\n`,
    breaks: [],
  },
  // bench/ and test/
  { file: `bench/${p}_test.ts`, text: `import '../test/${p}_target.js';\n`, breaks: ['bench-not-test'] },
  { file: `test/${p}_bench.ts`, text: `import '../bench/${p}_target.js';\n`, breaks: ['test-not-bench'] },
  // cycles (in worker/, which may import anything else): checked below, reported once per cycle
  { file: `worker/${p}_cycle_a.ts`, text: `import './${p}_cycle_b.js';\n`, breaks: [], cycle: 'no-circular' },
  { file: `worker/${p}_cycle_b.ts`, text: `import './${p}_cycle_a.js';\n`, breaks: [], cycle: 'no-circular' },
  { file: `worker/${p}_type_cycle_a.ts`, text: `import type { B } from './${p}_type_cycle_b.js';\nexport type A = { b?: B };\n`, breaks: [], cycle: 'no-circular-types' },
  { file: `worker/${p}_type_cycle_b.ts`, text: `import { type A } from './${p}_type_cycle_a.js';\nexport type B = { a?: A };\n`, breaks: [], cycle: 'no-circular-types' },
  // an import that resolves to nothing
  { file: `worker/${p}_missing.mjs`, text: `import './${p}_nowhere.mjs';\n`, breaks: ['not-to-unresolvable'] },
];

describe('the layer check', () => {
  it('catches each planted violation and lets the allowed imports through', async () => {
    const createdDirs: string[] = [];
    const createdFiles: string[] = [];
    try {
      for (const { file, text } of PLANTS) {
        const dir = await mkdir(path.dirname(path.join(ROOT, file)), { recursive: true });
        if (dir) createdDirs.push(dir);
        // `wx`: never overwrite, so the cleanup below removes only what this run wrote.
        await writeFile(path.join(ROOT, file), text, { flag: 'wx' });
        createdFiles.push(path.join(ROOT, file));
      }
      // Only the planted files are followed: the rest of the tree is moving under other hands.
      const result = await cruiseLayers(
        PLANTS.map(({ file }) => file),
        { doNotFollow: { path: '^(?!.*__planted_)' } },
      );
      const { violations } = result.summary;
      const report = (await formatViolations(result)).text;
      const broken = (file: string): string[] =>
        [...new Set(violations.filter((violation) => violation.from === file && violation.type !== 'cycle').map((violation) => violation.rule.name))].sort();
      for (const { file, breaks } of PLANTS) expect(broken(file), `${file}\n${report}`).toEqual(breaks);
      for (const rule of ['no-circular', 'no-circular-types']) {
        const files = PLANTS.filter(({ cycle }) => cycle === rule).map(({ file }) => file);
        const cycles = violations.filter((violation) => violation.type === 'cycle' && violation.rule.name === rule);
        const members = cycles.map((violation) => [...new Set([violation.from, ...(violation.cycle ?? []).map(({ name }) => name)])].sort());
        expect(members, `${rule}\n${report}`).toEqual([files.sort()]);
      }
      expect(result.summary.violations.every((violation) => violation.from.includes(PLANTED)), report).toBe(true);
    } finally {
      await Promise.all(createdFiles.map((file) => rm(file, { force: true })));
      for (const dir of createdDirs.reverse()) await rmdir(dir).catch(() => undefined);
    }
  }, 60_000);
});
