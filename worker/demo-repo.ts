// The `demo` repo npm start wires to the scripted test agent: a bare remote under the data dir,
// seeded with one commit on `main`.
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

const IDENTITY = ['-c', 'user.name=orch', '-c', 'user.email=orch@orch.invalid'];

export async function ensureDemoRemote(remote: string, defaultBranch = 'main'): Promise<boolean> {
  if (await access(path.join(remote, 'HEAD')).then(() => true, () => false)) return false;
  await mkdir(remote, { recursive: true });
  await execa('git', ['init', '--quiet', '--bare', `--initial-branch=${defaultBranch}`, remote]);
  const work = await mkdtemp(path.join(tmpdir(), 'orch-demo-seed-'));
  try {
    await execa('git', ['init', '--quiet', `--initial-branch=${defaultBranch}`, work]);
    await writeFile(path.join(work, 'README.md'), '# demo\n\nA repository for trying orch with the scripted test agent.\n');
    await execa('git', [...IDENTITY, 'add', 'README.md'], { cwd: work });
    await execa('git', [...IDENTITY, 'commit', '--quiet', '-m', 'Initial commit'], { cwd: work });
    await execa('git', ['push', '--quiet', remote, `HEAD:refs/heads/${defaultBranch}`], { cwd: work });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return true;
}
