import { spawn, execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, chmod, copyFile, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { RuntimeError } from '@livemesh/contracts';
import { defaultEnginePath } from '@livemesh/media';
import { followProgress, type ProgressSink } from './docker.client.js';
import { LABELS } from './docker.labels.js';

const run = promisify(execFile);

/** The non-root user every livemesh image runs as (uid/gid; no name lookups are needed at run time). */
export const IMAGE_USER = { name: 'livemesh', uid: 10001, gid: 10001 } as const;

export const DEFAULT_BASE_IMAGE = 'livemesh/base:local';

/** Where a media base image holds the warm media engine (lm-engine), when it was built here. */
export const IMAGE_ENGINE_PATH = '/usr/lib/livemesh/lm-engine';

export interface BaseImageOptions {
  /** Image name:tag to create. */
  tag?: string;
  /** Carry ffmpeg, ffprobe and fonts (default); without them the image holds node alone. */
  media?: boolean;
  /** Build even when the tag exists. */
  rebuild?: boolean;
  /** Host executables; found on PATH (node: the running one) when not given. `false`: no node (the NATS image). */
  node?: string | false;
  ffmpeg?: string;
  ffprobe?: string;
  /** The lm-engine binary; default the build output, carried only when it exists (npm run build makes it). */
  engine?: string;
  /** Extra host executables to carry (e.g. nats-server for a NATS image), placed in /usr/bin. */
  extraBinaries?: string[];
  /** The image's ENTRYPOINT (none by default: the Dockerfiles built on the base set theirs). */
  entrypoint?: string[];
  /** `livemesh.role` label (default `base`) and any further labels. */
  labels?: Record<string, string>;
  onProgress?: ProgressSink;
}

/**
 * Makes sure the base image exists: node, ffmpeg and ffprobe with exactly the shared libraries
 * `ldd` lists for them, fontconfig with the DejaVu fonts (drawtext), and a non-root user. It is
 * made from this machine's own files because no public registry may be reachable; `docker
 * import` of the root filesystem takes a few seconds, far less than any apt-based build.
 */
export async function ensureBaseImage(docker: Docker, opts: BaseImageOptions = {}): Promise<{ tag: string; built: boolean }> {
  const tag = opts.tag ?? DEFAULT_BASE_IMAGE;
  if (!opts.rebuild && (await imageExists(docker, tag))) return { tag, built: false };
  const root = await mkdtemp(join(tmpdir(), 'livemesh-base-'));
  try {
    const carried = await collectBaseRootfs(root, opts);
    opts.onProgress?.(`image ${tag}: ${carried.length} files (${carried.filter((f) => f.startsWith('/usr/bin/')).join(', ')} and their libraries); importing the root filesystem`);
    await importRootfs(docker, root, tag, opts);
    return { tag, built: true };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

export async function imageExists(docker: Docker, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect();
    return true;
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return false;
    throw new RuntimeError(`cannot inspect image ${ref}: ${(e as Error).message}`, { cause: e });
  }
}

/** Lays out the base root filesystem under `root`. Exported for the Docker-less unit test. */
export async function collectBaseRootfs(root: string, opts: BaseImageOptions = {}): Promise<string[]> {
  const binaries: [string, string][] = [
    ...(opts.node === false ? [] : ([[opts.node ?? process.execPath, '/usr/bin/node']] as [string, string][])),
    ...(opts.media === false
      ? []
      : ([
          [await locate(opts.ffmpeg ?? 'ffmpeg'), '/usr/bin/ffmpeg'],
          [await locate(opts.ffprobe ?? 'ffprobe'), '/usr/bin/ffprobe'],
        ] as [string, string][])),
    // Optional: an image without it still runs every stage through the ffmpeg CLI.
    ...(opts.media !== false && (await exists(opts.engine ?? defaultEnginePath())) ? ([[opts.engine ?? defaultEnginePath(), IMAGE_ENGINE_PATH]] as [string, string][]) : []),
    ...(await Promise.all((opts.extraBinaries ?? []).map(async (b): Promise<[string, string]> => [await locate(b), `/usr/bin/${b.split('/').pop()}`]))),
  ];
  const libraries = new Set<string>();
  for (const [host, inImage] of binaries) {
    await copyInto(root, host, inImage);
    for (const lib of await sharedLibraries(host)) libraries.add(lib);
  }
  // The font stack is loaded by ffmpeg's drawtext at run time; fontconfig needs its config too.
  for (const dir of opts.media === false ? [] : ['/etc/fonts', '/usr/share/fonts/truetype/dejavu']) {
    if (await exists(dir)) await cp(dir, join(root, dir), { recursive: true, dereference: true });
  }
  for (const lib of libraries) await copyInto(root, lib, lib);
  await mkdir(join(root, 'etc'), { recursive: true });
  const { name, uid, gid } = IMAGE_USER;
  await writeFile(join(root, 'etc/passwd'), `root:x:0:0:root:/root:/usr/sbin/nologin\n${name}:x:${uid}:${gid}:livemesh:/tmp:/usr/sbin/nologin\n`);
  await writeFile(join(root, 'etc/group'), `root:x:0:\n${name}:x:${gid}:\n`);
  for (const d of ['tmp', 'app', 'var/cache/fontconfig']) await mkdir(join(root, d), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  return [...binaries.map((b) => b[1]), ...libraries];
}

/** The absolute paths of the shared libraries `ldd` resolves for a binary, the loader included. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('ldd', [binary], { maxBuffer: 4 * 1024 * 1024 }));
  } catch (e) {
    // A static binary (nats-server from a release tarball) has nothing to carry.
    if (/not a dynamic executable/.test(String((e as { stderr?: string }).stderr))) return [];
    throw new RuntimeError(`ldd ${binary} failed: ${(e as Error).message}`, { cause: e });
  }
  return parseLdd(stdout);
}

/** `libx.so.1 => /lib/x/libx.so.1 (0x...)` and `/lib64/ld-linux-x86-64.so.2 (0x...)` lines; linux-vdso has no file. */
export function parseLdd(output: string): string[] {
  const found: string[] = [];
  for (const line of output.split('\n')) {
    const m = line.match(/=>\s*(\/\S+)/) ?? line.match(/^\s*(\/\S+)\s+\(0x/);
    if (m) found.push(m[1]!);
    else if (/=>\s*not found/.test(line)) throw new RuntimeError(`a library is missing on this machine: ${line.trim()}`);
  }
  return found;
}

async function copyInto(root: string, from: string, to: string): Promise<void> {
  const dest = join(root, to);
  await mkdir(dirname(dest), { recursive: true });
  // copyFile follows symlinks: the image gets the library itself under the name the loader asks for.
  await copyFile(from, dest);
  await chmod(dest, 0o755);
}

async function importRootfs(docker: Docker, root: string, tag: string, opts: Pick<BaseImageOptions, 'entrypoint' | 'labels' | 'onProgress'>): Promise<void> {
  const tar = spawn('tar', ['-C', root, '--numeric-owner', '--owner=0', '--group=0', '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  tar.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const tarDone = new Promise<void>((resolve, reject) => {
    tar.once('error', (e) => reject(new RuntimeError(`cannot run tar to pack the base root filesystem: ${e.message}`, { cause: e })));
    tar.once('close', (code) => (code === 0 ? resolve() : reject(new RuntimeError(`tar failed packing the base root filesystem (exit ${code}): ${stderr.trim()}`))));
  });
  const [repo, version] = splitTag(tag);
  const { uid, gid } = IMAGE_USER;
  const changes = [
    'ENV PATH=/usr/bin:/bin HOME=/tmp XDG_CACHE_HOME=/tmp/.cache',
    `USER ${uid}:${gid}`,
    'WORKDIR /app',
    `LABEL ${Object.entries({ [LABELS.managed]: 'true', [LABELS.role]: 'base', ...opts.labels }).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`,
    ...(opts.entrypoint ? [`ENTRYPOINT ${JSON.stringify(opts.entrypoint)}`] : []),
  ];
  try {
    const progress = await docker.importImage(tar.stdout, { repo, tag: version, changes } as object);
    await Promise.all([followProgress(docker, progress, opts.onProgress), tarDone]);
  } catch (e) {
    tar.kill('SIGKILL');
    throw e instanceof RuntimeError ? e : new RuntimeError(`importing the base image ${tag} failed: ${(e as Error).message}`, { cause: e });
  }
}

/** `repo[:tag]` -> [repo, tag]; a registry port is not a tag. */
export function splitTag(ref: string): [string, string] {
  const at = ref.lastIndexOf(':');
  if (at > ref.lastIndexOf('/') && at > 0) return [ref.slice(0, at), ref.slice(at + 1)];
  return [ref, 'latest'];
}

/** An executable given as a path, or by name on PATH (`which`) or in /usr/sbin. */
export async function locate(nameOrPath: string): Promise<string> {
  return nameOrPath.includes('/') ? nameOrPath : which(nameOrPath);
}

async function which(name: string): Promise<string> {
  try {
    const { stdout } = await run('which', [name]);
    if (stdout.trim()) return stdout.trim();
  } catch {
    /* not found: explained below */
  }
  // Debian installs nats-server in /usr/sbin, which an ordinary user's PATH lacks.
  for (const dir of ['/usr/local/sbin', '/usr/sbin']) if (await exists(join(dir, name), constants.X_OK)) return join(dir, name);
  throw new RuntimeError(`${name} is not on PATH: the base image carries it (Debian: apt-get install -y ${name === 'ffprobe' ? 'ffmpeg' : name})`);
}

async function exists(path: string, mode = constants.F_OK): Promise<boolean> {
  try {
    await access(path, mode);
    return true;
  } catch {
    return false;
  }
}
