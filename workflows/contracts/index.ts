// The contracts every layer may import: pure types and names, no I/O.
export * from './activities.js';
export * from './config.js';
export * from './lock.js';
export * from './names.js';
export * from './plan.js';
export * from './status.js';
export * from './task.js';
export * from './task-history.js';
export * from './reconcile.js';
export * from './plane-reconcile.js';
export * from './sandbox.js';
export * from './usage.js';
export * from './usage-text.js';
