// Typed search attribute keys (registered on the dev server by temporal-dev.yaml).
import { defineSearchAttributeKey } from '@temporalio/common';

export const orchSearchAttributes = {
  taskKey: defineSearchAttributeKey('OrchTaskKey', 'KEYWORD'),
  repo: defineSearchAttributeKey('OrchRepo', 'KEYWORD'),
  stage: defineSearchAttributeKey('OrchStage', 'KEYWORD'),
  status: defineSearchAttributeKey('OrchStatus', 'KEYWORD'),
} as const;
