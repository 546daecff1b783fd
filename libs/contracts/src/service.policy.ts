import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { ENV_VARIABLES, type Env } from './env.js';
import { UnsafeServiceError } from './errors.js';

/**
 * What a catalogue service may make livemesh run: the checks shared by the orchestrator (at
 * registration, so the caller gets a 422 naming the field) and by the places that act on an entry
 * (the worker's stage loader, the runtimes), so an entry written straight into `lm_catalogue`
 * cannot bypass them. docs/security.md explains the model.
 */

/** Where stage modules may come from (LIVEMESH_STAGE_DIR, LIVEMESH_STAGE_PACKAGES). */
export interface StagePolicy {
  /** Directory (resolved against the working directory) a module path must lie under, symlinks resolved. */
  stageDir: string;
  /** Installed packages a module may name, exactly. */
  packages: readonly string[];
}

/** The registries images may come from (LIVEMESH_IMAGE_REGISTRIES) plus the built-in worker image. */
export interface ImagePolicy {
  /** Registry hosts (`127.0.0.1:5000`, `ghcr.io`), and `local` for references without a host. */
  registries: readonly string[];
  /** LIVEMESH_WORKER_IMAGE: always allowed, it is what the built-ins run. */
  builtInImage: string;
}

/** npm's rules for a package name (validate-npm-package-name, new packages): lowercase, URL-safe, optional scope. */
const NPM_NAME = /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;

export function isNpmPackageName(name: string): boolean {
  return name.length > 0 && name.length <= 214 && NPM_NAME.test(name);
}

export function stagePolicyOf(env: Pick<Env, 'LIVEMESH_STAGE_DIR' | 'LIVEMESH_STAGE_PACKAGES'>): StagePolicy {
  return { stageDir: env.LIVEMESH_STAGE_DIR, packages: splitList(env.LIVEMESH_STAGE_PACKAGES) };
}

export function imagePolicyOf(env: Pick<Env, 'LIVEMESH_IMAGE_REGISTRIES' | 'LIVEMESH_WORKER_IMAGE'>): ImagePolicy {
  return { registries: splitList(env.LIVEMESH_IMAGE_REGISTRIES), builtInImage: env.LIVEMESH_WORKER_IMAGE };
}

export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** A stage module that passed the policy: an allowed package name, or the real path of a file under the stage directory. */
export type CheckedStageModule = { kind: 'package'; name: string } | { kind: 'path'; path: string };

/**
 * Decides whether `spec` (a catalogue `run.module` or LIVEMESH_STAGE_MODULE) may be imported.
 * URL specifiers (`data:`, `file:`, `http(s):`, `node:`) are refused outright: `import()` runs
 * whatever they hold. A path is resolved with its symlinks before the check, so a link under the
 * stage directory that leads out is refused; the answer is the real path, and that is what the
 * loader imports.
 */
export function checkStageModule(spec: string, policy: StagePolicy, field = 'run.module', realpath: (p: string) => string = realpathSync): CheckedStageModule {
  const refuse = (why: string): never => {
    throw new UnsafeServiceError('stage module is not allowed', [`${field}: ${why}`]);
  };
  if (typeof spec !== 'string' || spec.length === 0) return refuse('must be a package name or a path');
  if (spec.length > 1024) return refuse('is longer than 1024 characters');
  if (/[\u0000-\u001f\u007f]/.test(spec)) return refuse('contains control characters');
  // Two letters or more before the colon: a URL scheme (data:, file:, node:, https:); the loader would fetch or evaluate it.
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]+):/.exec(spec);
  if (scheme) return refuse(`"${scheme[1]}:" specifiers are not allowed; use a path under LIVEMESH_STAGE_DIR or a package listed in LIVEMESH_STAGE_PACKAGES`);
  if (isAbsolute(spec) || spec.startsWith('.')) {
    if (spec.split(/[\\/]/).includes('..')) return refuse('must not contain ".." segments');
    if (!/\.(m|c)?js$/.test(spec)) return refuse('must be a built JavaScript file (.js, .mjs or .cjs)');
    let real: string;
    let root: string;
    try {
      real = realpath(resolve(spec));
    } catch {
      return refuse(`${spec} does not exist`);
    }
    try {
      root = realpath(resolve(policy.stageDir));
    } catch {
      return refuse(`the stage directory LIVEMESH_STAGE_DIR (${policy.stageDir}) does not exist, so no module path is allowed`);
    }
    if (!isInside(root, real)) return refuse(`${spec} is not under LIVEMESH_STAGE_DIR (${policy.stageDir}) once its symlinks are resolved`);
    return { kind: 'path', path: real };
  }
  if (!isNpmPackageName(spec)) return refuse('is neither a path (absolute or ./relative) nor a valid npm package name');
  if (!policy.packages.includes(spec)) return refuse(`package "${spec}" is not in LIVEMESH_STAGE_PACKAGES`);
  return { kind: 'package', name: spec };
}

export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

/**
 * Variables a service's `env` may not set, compared case-insensitively: what the dynamic loader,
 * Node, the shell, OpenSSL and ffmpeg read to load code or files (LD_PRELOAD, NODE_OPTIONS,
 * OPENSSL_CONF, FFREPORT...), the proxy variables that would reroute outbound traffic, and
 * livemesh's own (every Env key, LIVEMESH_*, NATS_*, DOCKER_*): a service must not repoint its
 * worker at another stage module, bus or tool binary.
 */
const DENIED_EXACT = new Set([
  'PATH',
  'HOME',
  'SHELL',
  'ENV',
  'BASH_ENV',
  'IFS',
  'CDPATH',
  'GCONV_PATH',
  'GLIBC_TUNABLES',
  'HOSTALIASES',
  'LOCALDOMAIN',
  'RES_OPTIONS',
  'TMPDIR',
  'FFREPORT',
  'FONTCONFIG_FILE',
  'FONTCONFIG_PATH',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'ALL_PROXY',
  'NO_PROXY',
  'FTP_PROXY',
  'UV_USE_IO_URING',
]);
const DENIED_PREFIXES = ['LD_', 'DYLD_', 'NODE_', 'NPM_', 'OPENSSL_', 'MALLOC_', 'LIVEMESH_', 'NATS_', 'DOCKER_', 'AV_LOG_'];
/** NODE_ENV only switches a library's mode; the rest of NODE_* loads code, certificates or inspectors. */
const ALLOWED_EXCEPTIONS = new Set(['NODE_ENV']);

export const SERVICE_ENV_LIMITS = { keys: 64, valueLength: 4096, totalBytes: 32 * 1024 } as const;

/** Why `key` may not be set by a service, or undefined when it may. */
export function deniedEnvKey(key: string): string | undefined {
  const k = key.toUpperCase();
  if (ALLOWED_EXCEPTIONS.has(k)) return undefined;
  if (ENV_KEYS.has(k)) return 'is a livemesh setting (docs/configuration.md)';
  if (DENIED_EXACT.has(k)) return 'is read by the loader, the shell or a tool, so a service may not set it';
  const prefix = DENIED_PREFIXES.find((p) => k.startsWith(p));
  if (prefix) return `${prefix}* variables are read by the loader, the runtime or livemesh, so a service may not set them`;
  return undefined;
}

const ENV_KEYS = new Set(ENV_VARIABLES.map((k) => k.toUpperCase()));

/** Every problem of a service's `env`, one per field (`env.NODE_OPTIONS: ...`); empty when it may be applied. */
export function serviceEnvProblems(env: unknown): string[] {
  if (env === undefined) return [];
  if (env === null || typeof env !== 'object' || Array.isArray(env)) return ['env: must be an object of strings'];
  const entries = Object.entries(env as Record<string, unknown>);
  const problems: string[] = [];
  if (entries.length > SERVICE_ENV_LIMITS.keys) problems.push(`env: has ${entries.length} variables, more than ${SERVICE_ENV_LIMITS.keys}`);
  let total = 0;
  for (const [k, v] of entries) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(k)) {
      problems.push(`env.${k.slice(0, 64)}: a name must be 1-128 letters, digits or _ and not start with a digit`);
      continue;
    }
    const denied = deniedEnvKey(k);
    if (denied) problems.push(`env.${k}: ${denied}`);
    if (typeof v !== 'string') {
      problems.push(`env.${k}: must be a string`);
      continue;
    }
    if (v.length > SERVICE_ENV_LIMITS.valueLength) problems.push(`env.${k}: is longer than ${SERVICE_ENV_LIMITS.valueLength} characters`);
    if (v.includes('\u0000')) problems.push(`env.${k}: contains a NUL character`);
    total += Buffer.byteLength(k) + Buffer.byteLength(v) + 2;
  }
  if (total > SERVICE_ENV_LIMITS.totalBytes) problems.push(`env: is ${total} bytes, more than ${SERVICE_ENV_LIMITS.totalBytes}`);
  return problems;
}

/** Docker's reference grammar (distribution/reference), without the rarely used IPv6 registry form. */
const IMAGE_REF =
  /^(?:(?<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?)\/)?(?<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;

/**
 * The registry an image reference pulls from, as Docker reads it: the first component is a host
 * when it has a dot or a port or is `localhost`; otherwise the reference has no host (`local`,
 * which Docker would resolve to Docker Hub, and which the docker runtime never pulls).
 */
export function imageRegistry(ref: string): string | undefined {
  const m = IMAGE_REF.exec(ref);
  if (!m || ref.length > 512) return undefined;
  const first = ref.split('/')[0]!;
  const hasHost = ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasHost) return 'local';
  return first.toLowerCase();
}

/** Why `image` may not be run, or undefined when it may. */
export function imageProblem(image: string, policy: ImagePolicy, field = 'run.image'): string | undefined {
  if (image === policy.builtInImage) return undefined;
  const registry = imageRegistry(image);
  if (!registry) return `${field}: "${image.slice(0, 128)}" is not a Docker image reference`;
  if (!policy.registries.map((r) => r.toLowerCase()).includes(registry)) {
    return registry === 'local'
      ? `${field}: "${image}" names no registry and LIVEMESH_IMAGE_REGISTRIES does not list "local" (images of this engine)`
      : `${field}: registry "${registry}" is not in LIVEMESH_IMAGE_REGISTRIES (${policy.registries.join(', ') || 'empty'})`;
  }
  return undefined;
}

/**
 * Everything about a service that decides what code runs: its module, env and image. Throws
 * UnsafeServiceError listing every problem. `realpath` is replaceable for unit tests only.
 */
export function checkServiceSafety(
  spec: { run?: { module?: string; image?: string }; env?: unknown },
  policy: { stage: StagePolicy; image: ImagePolicy },
  realpath: (p: string) => string = realpathSync,
): void {
  const problems = serviceEnvProblems(spec.env);
  if (spec.run?.module !== undefined) {
    try {
      checkStageModule(spec.run.module, policy.stage, 'run.module', realpath);
    } catch (e) {
      if (!(e instanceof UnsafeServiceError)) throw e;
      problems.push(...e.problems);
    }
  }
  if (spec.run?.image !== undefined) {
    const p = imageProblem(spec.run.image, policy.image);
    if (p) problems.push(p);
  }
  if (problems.length) throw new UnsafeServiceError('service would run code or an image livemesh does not allow', problems);
}
