// Asks git whether a head merges cleanly into a base, in this host's mirror of the remote. Gitea's
// API answers `mergeable: false` alike for a PR still being checked and one found conflicting, so
// the Gitea forge asks git which it is; git also names the files, which neither API does.
import { GitError, ensureMirror, git } from '../git.js';
import type { ConflictProbe } from './types.js';

export function createGitConflictProbe(options: { cacheDir: string; remote: string }): ConflictProbe {
  return async (base, head) => {
    try {
      const mirror = await ensureMirror(options.cacheDir, options.remote);
      // merge-tree also exits 1 for a commit it does not know: make sure both are there first.
      for (const sha of [base, head]) {
        const known = await git(['cat-file', '-e', `${sha}^{commit}`], { cwd: mirror, okExitCodes: [0, 1, 128] });
        if (known.exitCode !== 0) return null;
      }
      // Exit 0: a clean merge; 1: conflicts, listed after the tree id (--name-only, no messages).
      const res = await git(['merge-tree', '--write-tree', '--name-only', '--no-messages', base, head], {
        cwd: mirror,
        okExitCodes: [0, 1],
      });
      const [tree = '', ...files] = res.stdout.split('\n');
      if (!/^[0-9a-f]{40,64}$/.test(tree.trim())) return null;
      if (res.exitCode === 0) return [];
      return [...new Set(files.map((l) => l.trim()).filter(Boolean))];
    } catch (err) {
      // A commit the mirror does not have (yet), or no access to the remote: no verdict.
      if (err instanceof GitError) return null;
      throw err;
    }
  };
}
