// The `demo` repo npm start wires to the scripted test agent: a bare remote under the data dir,
// seeded with one commit on `main`.
import { access } from 'node:fs/promises';
import path from 'node:path';
import { createBareRemote } from './bare-remote.js';

const README = '# demo\n\nA repository for trying orch with the scripted test agent.\n';

/** Creates the demo remote unless it exists; true when it did. */
export async function ensureDemoRemote(remote: string, defaultBranch = 'main'): Promise<boolean> {
  if (await access(path.join(remote, 'HEAD')).then(() => true, () => false)) return false;
  await createBareRemote(remote, { defaultBranch, seed: { readme: README, message: 'Initial commit' } });
  return true;
}
