import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

// Debian installs nats-server and dockerd in /usr/sbin, which an ordinary user's PATH lacks.
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of an executable found on PATH (or in the sbin folders), or null. */
export function findExecutable(name: string): string | null {
  const isExec = (file: string): boolean => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (name.includes('/')) return isExec(resolve(name)) ? resolve(name) : null;
  for (const dir of [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN]) {
    if (isExec(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** Like findExecutable, but throws naming the Debian package to install (see scripts/preflight.mjs). */
export function requireExecutable(name: string, debianPackage: string): string {
  const found = findExecutable(name);
  if (found === null) {
    throw new Error(`${name} not found on PATH; run \`node scripts/preflight.mjs --for-tests\` or \`sudo apt-get install -y ${debianPackage}\``);
  }
  return found;
}
