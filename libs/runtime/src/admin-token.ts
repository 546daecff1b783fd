import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { generateApiToken, weakApiTokenProblem } from '@livemesh/contracts';

/** The file that holds the bootstrap admin API token, under the data directory. */
export const ADMIN_TOKEN_FILE = 'admin.token';

export function adminTokenPath(dataDir: string): string {
  return resolve(dataDir, ADMIN_TOKEN_FILE);
}

/**
 * The bootstrap admin token in `<dataDir>/admin.token`: read when the file exists, else created
 * (mode 0600, the directory made 0700) with a new random token. `livemesh up` calls it before it
 * starts the orchestrator, which reads the same file; neither ever puts the token in an argv.
 * A file that does not hold a well-formed, random-looking token is refused with the reason.
 */
export async function ensureAdminTokenFile(dataDir: string): Promise<{ token: string; path: string; created: boolean }> {
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const path = join(dir, ADMIN_TOKEN_FILE);
  const existing = await readAdminTokenFile(dataDir);
  if (existing !== undefined) return { token: existing, path, created: false };
  const { token } = generateApiToken();
  let handle;
  try {
    // Exclusive: if another process wrote it in between, its token is the one.
    handle = await open(path, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return { token: (await readAdminTokenFile(dataDir))!, path, created: false };
  }
  try {
    await handle.writeFile(`${token}\n`);
  } finally {
    await handle.close();
  }
  return { token, path, created: true };
}

/**
 * The token in `<dataDir>/admin.token`, or undefined when there is no such file. A file others
 * may read (group or world bits) is made 0600 first; a file that does not hold a good token throws.
 */
export async function readAdminTokenFile(dataDir: string): Promise<string | undefined> {
  const path = adminTokenPath(dataDir);
  let text: string;
  try {
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0) await chmod(path, 0o600);
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read the admin token file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  const token = text.trim();
  const problem = weakApiTokenProblem(token);
  if (problem) throw new Error(`${path} does not hold a usable admin token: it ${problem}; delete the file to have a new one written`);
  return token;
}
