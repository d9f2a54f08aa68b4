// The repo lock's messages: holders ask with `acquire`, are told with `lockGranted`, give it back
// with `release` (workflows/repo-lock.ts).
import { defineQuery, defineSignal } from '@temporalio/workflow';

export interface LockRequest {
  holderWorkflowId: string;
  purpose: string;
}
export interface LockState {
  lockId: string;
  holder: (LockRequest & { since: string }) | null;
  waiters: (LockRequest & { since: string })[];
  granted: number;
}

export const acquireSignal = defineSignal<[LockRequest]>('acquire');
export const releaseSignal = defineSignal<[{ holderWorkflowId: string }]>('release');
export const lockGrantedSignal = defineSignal<[{ lockId: string }]>('lockGranted');
export const lockStateQuery = defineQuery<LockState>('lockState');

export type RepoLockWorkflow = (carried?: Pick<LockState, 'waiters'>) => Promise<void>;
