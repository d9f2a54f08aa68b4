#!/usr/bin/env node
// `npx orch …`: runs bin/orch.ts through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
await import('./orch.ts');
