import { resolve } from 'node:path';
import { generateApiToken, readOrCreatePrivateFile, readPrivateFile, weakApiTokenProblem } from '@livemesh/contracts';

/** The file that holds the bootstrap admin API token, under the data directory. */
export const ADMIN_TOKEN_FILE = 'admin.token';

export function adminTokenPath(dataDir: string): string {
  return resolve(dataDir, ADMIN_TOKEN_FILE);
}

/**
 * The bootstrap admin token in `<dataDir>/admin.token`: read when the file exists, else created
 * (mode 0600, the directory made 0700) with a new random token. `livemesh up` calls it before it
 * starts the orchestrator, which reads the same file; neither ever puts the token in an argv.
 * When both create it at once, the first one's token is the one (readOrCreatePrivateFile).
 * A file that does not hold a well-formed, random-looking token is refused with the reason.
 */
export async function ensureAdminTokenFile(dataDir: string): Promise<{ token: string; path: string; created: boolean }> {
  const path = adminTokenPath(dataDir);
  const { text, created } = await withReadError(path, () => readOrCreatePrivateFile(path, () => `${generateApiToken().token}\n`));
  return { token: checkedToken(path, text), path, created };
}

/**
 * The token in `<dataDir>/admin.token`, or undefined when there is no such file. A file others
 * may read (group or world bits) is made 0600 first; a file that does not hold a good token throws.
 */
export async function readAdminTokenFile(dataDir: string): Promise<string | undefined> {
  const path = adminTokenPath(dataDir);
  const text = await withReadError(path, () => readPrivateFile(path));
  return text === undefined ? undefined : checkedToken(path, text);
}

function checkedToken(path: string, text: string): string {
  const token = text.trim();
  const problem = weakApiTokenProblem(token);
  if (problem) throw new Error(`${path} does not hold a usable admin token: it ${problem}; delete the file to have a new one written`);
  return token;
}

async function withReadError<T>(path: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    throw new Error(`cannot read the admin token file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}
