// The layer rules of docs/architecture.md ("Layers"), checked by `npm run check:layers` (part of
// `npm test`) and by test/unit/layers.test.ts. Paths are relative to the repository root; npm
// packages resolve to node_modules/<name>/..., Node built-ins have the dependency type `core`.
// Each rule's comment is the allowed direction it guards: `npm run docs:architecture` prints them
// as the table in docs/architecture.md.

/** Dependencies that vanish when compiled: `import type`, `export type`, `import('x').T`. */
const TYPE_ONLY = ['type-only', 'type-import'];
/** The SDK a workflow (and the contracts it shares) may load inside the workflow sandbox. */
const WORKFLOW_SDK = 'node_modules/@temporalio/(workflow|common)/';
const CONTRACTS = 'workflows/contracts/';
/** The one contracts file allowed Node built-ins: no workflow loads it (rule contracts-plane-wire-outside-workflows). */
const PLANE_WIRE = '^workflows/contracts/plane-wire\\.ts$';
/** Everything the layers may use from outside the repository. */
const PACKAGES = 'node_modules/';

/**
 * `from` may only import what matches `allowed` (a regex over the resolved path); Node built-ins
 * too unless `core: false`. Unresolved imports are left to not-to-unresolvable (reported once).
 */
function only(name, comment, from, allowed, { core = true, ...extra } = {}) {
  return {
    name,
    comment,
    severity: 'error',
    from,
    to: { pathNot: allowed, couldNotResolve: false, ...(core ? { dependencyTypesNot: ['core'] } : {}), ...extra },
  };
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    only(
      'workflows-sdk-and-contracts-only',
      'workflows/ → workflows/ (itself, contracts) and @temporalio/workflow, @temporalio/common; no other package, no Node built-in (the workflow sandbox is deterministic)',
      { path: '^workflows/', pathNot: `^${CONTRACTS}` },
      `^(workflows/|${WORKFLOW_SDK})`,
      { core: false },
    ),
    only(
      'contracts-pure',
      'workflows/contracts/ → workflows/contracts/, @temporalio/workflow, @temporalio/common at run time (it is loaded inside the workflow sandbox too)',
      { path: `^${CONTRACTS}`, pathNot: PLANE_WIRE },
      `^(${CONTRACTS}|${WORKFLOW_SDK})`,
      { core: false, dependencyTypesNot: TYPE_ONLY },
    ),
    only(
      'contracts-plane-wire-pure',
      'workflows/contracts/plane-wire.ts → workflows/contracts/, @temporalio/workflow, @temporalio/common and Node built-ins (no workflow loads it)',
      { path: PLANE_WIRE },
      `^(${CONTRACTS}|${WORKFLOW_SDK})`,
    ),
    only(
      'contracts-types-from-schemas',
      'workflows/contracts/ → as types only, also zod and the config schemas worker/config/*-schema.ts (the config types are z.output of them)',
      { path: `^${CONTRACTS}`, pathNot: PLANE_WIRE },
      `^(${CONTRACTS}|${WORKFLOW_SDK}|node_modules/zod/|worker/config/[^/]+-schema\\.ts$)`,
      { core: false, dependencyTypes: TYPE_ONLY },
    ),
    {
      name: 'contracts-plane-wire-outside-workflows',
      comment: 'workflows/ ↛ workflows/contracts/plane-wire.ts at run time (it uses node:crypto; the barrel does not re-export it)',
      severity: 'error',
      from: { path: '^workflows/', pathNot: PLANE_WIRE },
      to: { path: PLANE_WIRE, dependencyTypesNot: TYPE_ONLY },
    },
    only(
      'activities-adapters-db-contracts',
      'activities/ → activities/, db/, workflows/contracts/, packages, Node built-ins; never worker/, api/, bin/, workflows/ outside contracts',
      { path: '^activities/' },
      `^(activities/|db/|${CONTRACTS}|${PACKAGES})`,
    ),
    {
      name: 'adapters-without-temporal-activity',
      comment: 'activities/adapters/ ↛ @temporalio/activity (the I/O without Temporal: Context, heartbeats and cancellation live in activities/)',
      severity: 'error',
      from: { path: '^activities/adapters/' },
      to: { path: '^node_modules/@temporalio/activity/' },
    },
    {
      name: 'adapters-below-activities',
      comment: 'activities/adapters/ ↛ activities/ outside adapters (activities use adapters, not the other way round)',
      severity: 'error',
      from: { path: '^activities/adapters/' },
      to: { path: '^activities/', pathNot: '^activities/adapters/' },
    },
    only(
      'db-contracts-only',
      'db/ → db/, workflows/contracts/, packages, Node built-ins',
      { path: '^db/' },
      `^(db/|${CONTRACTS}|${PACKAGES})`,
    ),
    only(
      'api-db-contracts-client',
      'api/ → api/, db/, workflows/contracts/, packages (@temporalio/client among them), Node built-ins; never worker/, activities/, bin/',
      { path: '^api/' },
      `^(api/|db/|${CONTRACTS}|${PACKAGES})`,
    ),
    only(
      'bin-contracts-and-http',
      'bin/ → bin/, workflows/contracts/, packages, Node built-ins; never api/, db/, worker/, activities/ (the CLI speaks HTTP)',
      { path: '^bin/' },
      `^(bin/|${CONTRACTS}|${PACKAGES})`,
    ),
    only(
      'bin-contracts-types',
      'bin/ → workflows/contracts/ as types only, except the values of status.ts, names.ts, plane-wire.ts and usage-text.ts',
      { path: '^bin/' },
      `^workflows/contracts/(status|names|plane-wire|usage-text)\\.ts$`,
      { core: false, path: `^${CONTRACTS}`, dependencyTypesNot: TYPE_ONLY },
    ),
    {
      name: 'bench-not-test',
      comment: 'bench/ ↛ test/ (both use the harness in worker/)',
      severity: 'error',
      from: { path: '^bench/' },
      to: { path: '^test/' },
    },
    {
      name: 'test-not-bench',
      comment: 'test/ ↛ bench/',
      severity: 'error',
      from: { path: '^test/' },
      to: { path: '^bench/' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycle between files (worker/ → anything, but not in a circle either)',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: TYPE_ONLY } },
    },
    {
      // A cycle with a type-only link is gone once compiled (no load-order trap), so it only warns;
      // it still ties two files together: prefer moving the shared type down.
      name: 'no-circular-types',
      comment: 'no cycle through type-only imports either (warns: harmless at run time, still a knot)',
      severity: 'warn',
      from: {},
      to: { circular: true, via: { dependencyTypes: TYPE_ONLY } },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'every import resolves to a file or package (an unresolved path would slip past the rules above)',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Type-only imports count: a layer must not even name another layer's types.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
  },
};
