// The orch checkout itself: where orch.yaml, bin/ and docs/ are, and what relative paths in the
// environment are resolved against.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
