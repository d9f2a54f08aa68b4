// Every workflow type the worker registers (names: workflowTypes in contracts/names.ts).
export { task } from './task/workflow.js';
export { repoLock } from './repo-lock.js';
export { reconcile } from './reconcile.js';
export { planeReconcile } from './plane-reconcile.js';
