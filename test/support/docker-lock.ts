// One Docker engine serves every suite of a run. `npm test` runs one file at a time, but plain
// `jest` runs several at once, and two Docker suites at once would remove each other's containers
// (both start and clean up the same service names). So a Docker suite holds this lock from its
// first hook to its last: a file created exclusively in the temp folder, holding the owner's pid
// (a lock whose owner is gone is taken over). Jest workers are separate processes, so an in-memory
// lock would not do.
import { open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const DOCKER_LOCK_FILE = join(tmpdir(), 'livemesh-e2e-docker.lock');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits until this process holds the engine; returns the release. */
export async function holdDockerEngine(title: string, lockFile = DOCKER_LOCK_FILE): Promise<() => Promise<void>> {
  let waitedSince: number | undefined;
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      if (waitedSince !== undefined) process.stderr.write(`${title}: had the Docker engine after waiting ${Math.round((Date.now() - waitedSince) / 1000)} s for another suite\n`);
      return async () => {
        const owner = Number((await readFile(lockFile, 'utf8').catch(() => '')).trim());
        if (owner === process.pid) await rm(lockFile, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number((await readFile(lockFile, 'utf8').catch(() => '')).trim());
    // An empty file is one being written this instant; a dead owner's lock is stale.
    if (owner > 0 && !alive(owner)) await rm(lockFile, { force: true });
    waitedSince ??= Date.now();
    await new Promise((r) => setTimeout(r, 500));
  }
}
