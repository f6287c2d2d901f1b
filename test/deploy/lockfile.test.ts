import { read } from './artefacts';

// `npm ci` (.ci/run, deploy/Dockerfile) refuses a lock file that lacks any package the
// manifests call for, on any platform: optional platform builds included, although only this
// machine's are installed. A lock written from an installed tree keeps only those (it once held
// 4 of unrs-resolver's 21 builds, and `npm ci` failed on every clean clone). Checked here without
// the network, by npm's own lookup: a package's dependency is found in its own node_modules or in
// that of a folder above it.

interface LockEntry {
  version?: string;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const lock = JSON.parse(read('package-lock.json')) as { lockfileVersion: number; packages: Record<string, LockEntry> };

/** Where npm would find `name` for the package at `at` (a lock path), or undefined. */
function resolve(at: string, name: string): string | undefined {
  for (let dir = at; ; ) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (dir === '') return undefined;
    const cut = dir.lastIndexOf('/node_modules/');
    dir = cut >= 0 ? dir.slice(0, cut) : '';
  }
}

describe('package-lock.json', () => {
  test('is a v3 lock file', () => {
    expect(lock.lockfileVersion).toBe(3);
  });

  test('records every dependency of every locked package, optional platform builds included', () => {
    const missing: string[] = [];
    let optional = 0;
    for (const [at, entry] of Object.entries(lock.packages)) {
      if (entry.link) continue;
      for (const name of Object.keys(entry.optionalDependencies ?? {})) {
        optional += 1;
        if (!resolve(at, name)) missing.push(`${at || '(root)'} → ${name} (optional)`);
      }
      for (const name of Object.keys(entry.dependencies ?? {})) {
        if (!resolve(at, name)) missing.push(`${at || '(root)'} → ${name}`);
      }
    }
    expect(optional).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });
});
