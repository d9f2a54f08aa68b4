// The task workflow's public handlers: what operators, the API and the Plane bridge talk to.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { StopRequest, TaskState } from './types.js';

/** `temporal workflow signal --workflow-id task-KEY --name stop --input '{"reason":"…"}'` */
export const stopSignal = defineSignal<[StopRequest?]>('stop');
/** `temporal workflow query --workflow-id task-KEY --type state` */
export const stateQuery = defineQuery<TaskState>('state');
