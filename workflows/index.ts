// Every workflow type the worker registers.
export { task } from './task.js';
export { repoLock } from './repo-lock.js';
export { reconcile } from './reconcile.js';
