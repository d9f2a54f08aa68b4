// What a task knows of its pipeline once planned, and of the hosts it runs on.
import type { BudgetSpec, PipelineTimeouts, RepoSpec, StageSpec } from './config.js';

export interface PipelinePlan {
  repo: RepoSpec;
  stages: StageSpec[];
  attemptsPerStage: number;
  timeouts: PipelineTimeouts;
  /** The whole task's spending limit (absent in plans recorded before budgets existed). */
  budget?: BudgetSpec;
}

export interface HostRef {
  hostId: string;
  taskQueue: string;
}
