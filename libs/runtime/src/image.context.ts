import { lstat, readFile, readdir, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { RuntimeError } from '@livemesh/contracts';

interface PackageJson {
  name?: string;
  version?: string;
  main?: string;
  files?: string[];
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

export async function readPackageJson(dir: string): Promise<PackageJson> {
  try {
    return JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as PackageJson;
  } catch (cause) {
    throw new RuntimeError(`${dir} has no readable package.json: ${(cause as Error).message}`, { cause });
  }
}

export interface RuntimeFilesOptions {
  /** Package names provided by whatever the image is built on; they are neither resolved nor copied. */
  provided?: (name: string) => boolean;
}

/**
 * The files an app needs at run time, relative to `root`: for every package in the production
 * dependency closure of `entries`, its package.json and built files. Workspace packages
 * contribute `dist/` only (not their TypeScript); installed packages their whole folder minus
 * nested node_modules, which are reached through the closure when something needs them.
 * node_modules symlinks (npm workspaces) are kept as symlinks next to their targets, so module
 * resolution inside the image is the same as in the checkout. Dev dependencies never get in.
 */
export async function runtimeFiles(root: string, entries: string[], opts: RuntimeFilesOptions = {}): Promise<string[]> {
  const realRoot = await realpath(root);
  const files = new Set<string>();
  const visited = new Set<string>();
  const inside = (p: string) => {
    const r = relative(realRoot, p);
    if (r.startsWith('..') || isAbsolute(r)) throw new RuntimeError(`${p} is outside the build context ${realRoot}`);
    return r.split(sep).join('/');
  };

  const visit = async (dir: string): Promise<void> => {
    const real = await realpath(dir);
    if (visited.has(real)) return;
    visited.add(real);
    const pkg = await readPackageJson(real);
    const rel = inside(real);
    const installed = rel.split('/').includes('node_modules');
    if (installed) for (const f of await walk(real, true)) files.add(inside(f));
    else {
      files.add(`${rel}/package.json`);
      for (const f of await walk(join(real, 'dist'), false)) files.add(inside(f));
    }
    const optional = new Set(Object.keys(pkg.optionalDependencies ?? {}));
    const peers = Object.keys(pkg.peerDependencies ?? {}).filter((n) => !pkg.peerDependenciesMeta?.[n]?.optional);
    for (const n of peers) optional.add(n);
    for (const name of new Set([...Object.keys(pkg.dependencies ?? {}), ...optional])) {
      if (opts.provided?.(name)) continue;
      const found = await resolvePackage(real, name, realRoot);
      if (!found) {
        if (optional.has(name)) continue;
        throw new RuntimeError(`${pkg.name ?? rel} depends on ${name}, which is not installed (run npm install)`);
      }
      if ((await lstat(found)).isSymbolicLink()) files.add(inside(join(await realpath(dirname(found)), name.split('/').pop()!)));
      await visit(found);
    }
  };
  for (const e of entries) await visit(join(realRoot, e));
  return [...files].sort();
}

/** Node's lookup: `<dir>/node_modules/<name>`, then the same in each parent, up to `root`. */
async function resolvePackage(from: string, name: string, root: string): Promise<string | undefined> {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (await exists(join(candidate, 'package.json'))) return candidate;
    if (dir === root || dirname(dir) === dir) return undefined;
  }
}

/** Every file and symlink under `dir` (none when it does not exist), skipping nested node_modules when asked. */
async function walk(dir: string, skipNodeModules: boolean): Promise<string[]> {
  const out: string[] = [];
  let names;
  try {
    names = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const d of names) {
    const p = join(dir, d.name);
    if (d.isDirectory()) {
      if (skipNodeModules && d.name === 'node_modules') continue;
      out.push(...(await walk(p, skipNodeModules)));
    } else if (d.isFile() || d.isSymbolicLink()) {
      if (d.name.endsWith('.tsbuildinfo')) continue;
      out.push(p);
    }
  }
  return out;
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}
