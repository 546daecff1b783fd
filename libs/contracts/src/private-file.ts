import { chmod, link, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Files only their owner may read: the admin token, the ingest and playback secrets, the NATS
 * operator seeds and credentials. Every one is written the same way, so none can be left readable
 * by others or half-written:
 * - the folder is made 0700 and the file 0600 before any byte of the secret is in it;
 * - the file appears complete or not at all (written beside it, then linked or renamed in place).
 */

/** Makes `dir` (and its parents) with mode 0700, and tightens it to 0700 if it already existed. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/** Writes `text` at `path` (replacing what was there), readable by its owner only. */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  await ensurePrivateDir(dirname(path));
  const tmp = await writeBeside(path, text);
  await rename(tmp, path);
}

/**
 * The text of the private file at `path`; undefined when there is none. A file others may read
 * (group or world bits set) is made 0600 first.
 */
export async function readPrivateFile(path: string): Promise<string | undefined> {
  try {
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0) await chmod(path, 0o600);
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * The private file at `path`, created with `make()` when missing. When two processes create it at
 * once, the first one's text is the one both get: the new file is linked into place, which fails
 * when a file is already there, so a secret in use is never replaced.
 */
export async function readOrCreatePrivateFile(path: string, make: () => string | Promise<string>): Promise<{ text: string; created: boolean }> {
  const existing = await readPrivateFile(path);
  if (existing !== undefined) return { text: existing, created: false };
  await ensurePrivateDir(dirname(path));
  const text = await make();
  const tmp = await writeBeside(path, text);
  try {
    await link(tmp, path);
    return { text, created: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return { text: (await readPrivateFile(path))!, created: false };
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function writeBeside(path: string, text: string): Promise<string> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
  await chmod(tmp, 0o600);
  return tmp;
}
