// A clone's fingerprint: every entry under it, its .git included, with inode, mode, size and
// change time. The kernel sets a file's ctime on every change to it (content, mode, links, times,
// a rename) and a directory's on every entry added or removed, and nothing can set it back: an
// equal fingerprint means nothing in the clone changed since it was taken, told without a git
// process (whose spawn and run are most of a clean check's cost on a busy host).
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Past this many entries a clone gets no fingerprint: reading it would hold the event loop too long. */
export const FINGERPRINT_MAX_ENTRIES = 5_000;

/**
 * How far the newest change in a tree must lie behind the moment it is read for its fingerprint to
 * hold: a kernel before 6.13 stamps ctime from a clock that moves in ticks (up to 10 ms), so a
 * change in the tick of an earlier one could leave that ctime as it was (git's "racily clean"
 * entries). Later kernels stamp a change after a read of the ctime finely (multigrain timestamps).
 */
const RACY_MS = 20;

/** The fingerprint of the tree at `dir`, or null when it is missing, too large, or changed while read. */
export function cloneFingerprint(dir: string, maxEntries = FINGERPRINT_MAX_ENTRIES): string | null {
  return readTree(dir, maxEntries)?.print ?? null;
}

function readTree(dir: string, maxEntries: number): { print: string; newestChangeMs: number } | null {
  let names: string[];
  try {
    // Synchronous on purpose: a few hundred stat calls are well under a millisecond in one go, and
    // each would wait a turn of a busy worker's event loop awaited one by one.
    names = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  } catch {
    return null;
  }
  if (names.length > maxEntries) return null;
  names.sort();
  const hash = createHash('sha256');
  let newest = 0n;
  for (const name of ['.', ...names]) {
    const st = lstatSync(path.join(dir, name), { bigint: true, throwIfNoEntry: false });
    if (!st) return null;
    if (st.ctimeNs > newest) newest = st.ctimeNs;
    hash.update(`${name}\0${st.ino}:${st.mode}:${st.size}:${st.ctimeNs}:${st.mtimeNs}\n`);
  }
  return { print: hash.digest('hex'), newestChangeMs: Number(newest / 1_000_000n) };
}

/**
 * Clones this worker process saw clean at a commit, by path, with their fingerprints. A clone found
 * unchanged since is still clean at that commit; anything else is checked with git again. Held in
 * memory: a restarted worker knows none, and checks each clone once.
 */
export class CleanClones {
  readonly #seen = new Map<string, { sha: string; print: string }>();

  /**
   * After git showed the clone at `wt` clean at `sha`, and before anything else runs there. Waits
   * out the clock tick of the last change (git's own check just wrote the index): a fingerprint
   * taken within it could miss a change made in the same tick.
   */
  async remember(wt: string, sha: string): Promise<void> {
    this.#seen.delete(wt);
    for (let tries = 0; tries < 5; tries++) {
      const readAt = Date.now();
      const tree = readTree(wt, FINGERPRINT_MAX_ENTRIES);
      if (!tree) return;
      if (tree.newestChangeMs < readAt - RACY_MS) {
        this.#seen.set(wt, { sha, print: tree.print });
        return;
      }
      await sleep(RACY_MS);
    }
  }

  forget(wt: string): void {
    this.#seen.delete(wt);
  }

  /** True when the clone at `wt` is as it was when last seen clean at `sha`. */
  unchanged(wt: string, sha: string): boolean {
    const seen = this.#seen.get(wt);
    return seen !== undefined && seen.sha === sha && cloneFingerprint(wt) === seen.print;
  }
}
