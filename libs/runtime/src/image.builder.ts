import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, normalize, relative } from 'node:path';
import type Docker from 'dockerode';
import { RuntimeError, assertToken, serviceEnvProblems } from '@livemesh/contracts';
import { followProgress, type ProgressEvent, type ProgressSink } from './docker.client.js';
import { DEFAULT_BASE_IMAGE, IMAGE_USER, ensureBaseImage } from './image.base.js';
import { readPackageJson, runtimeFiles } from './image.context.js';
import { LABELS, hashOf } from './docker.labels.js';

/** The livemesh apps that get an image, with the Dockerfile and the base each builds on. */
export const APP_IMAGES = {
  worker: { dockerfile: 'deploy/worker/Dockerfile', media: true },
  ingest: { dockerfile: 'deploy/ingest/Dockerfile', media: true },
  orchestrator: { dockerfile: 'deploy/orchestrator/Dockerfile', media: false },
  delivery: { dockerfile: 'deploy/delivery/Dockerfile', media: false },
} as const;
export type AppName = keyof typeof APP_IMAGES;

/** Base tags: with ffmpeg for the apps that cut or process media, node alone for the rest. */
export const BASE_IMAGES = { media: DEFAULT_BASE_IMAGE, node: 'livemesh/base-node:local' } as const;

export function appImageTag(app: AppName, version: string, registry?: string): string {
  return `${registry ? `${registry.replace(/\/+$/, '')}/` : ''}livemesh/${app}:${version}`;
}

export interface AppImageOptions {
  /** The repository root, after `npm run build`. */
  root: string;
  app: AppName;
  /** Defaults to livemesh/<app>:<version of the root package.json>. */
  tag?: string;
  /** Built from this machine's files when missing (see ensureBaseImage). */
  baseImage?: string;
  onProgress?: ProgressSink;
}

/**
 * Builds an app image from the checkout's built JavaScript. The context holds only the app's
 * production closure (see runtimeFiles), so the engine receives megabytes, not the 270 MB of a
 * developer's node_modules; the Dockerfile's first stage then drops what Node never loads.
 */
export async function buildAppImage(docker: Docker, opts: AppImageOptions): Promise<{ tag: string; id: string }> {
  const { dockerfile, media } = APP_IMAGES[opts.app];
  const version = (await readPackageJson(opts.root)).version ?? '0.0.0';
  const tag = opts.tag ?? appImageTag(opts.app, version);
  const baseImage = opts.baseImage ?? (media ? BASE_IMAGES.media : BASE_IMAGES.node);
  if (baseImage === BASE_IMAGES.media || baseImage === BASE_IMAGES.node) {
    await ensureBaseImage(docker, { tag: baseImage, media: baseImage === BASE_IMAGES.media, onProgress: opts.onProgress });
  }
  const files = await runtimeFiles(opts.root, [`apps/${opts.app}`]);
  files.push(dockerfile, 'deploy/image-prune.mjs');
  opts.onProgress?.(`image ${tag}: ${files.length} files in the build context`);
  const stream = await buildStream(docker, () =>
    docker.buildImage({ context: opts.root, src: files }, {
      t: tag,
      dockerfile,
      buildargs: { BASE_IMAGE: baseImage },
      labels: { [LABELS.managed]: 'true', [LABELS.role]: 'app', [LABELS.version]: version, 'livemesh.app': opts.app },
      // The engine may have no bridge network (--bridge=none): build steps share the host's.
      networkmode: 'host',
      rm: true,
      forcerm: true,
    }),
  );
  const id = imageId(await followProgress(docker, stream, opts.onProgress), tag);
  return { tag, id };
}

export interface ServiceImageOptions {
  /** The service's folder: package.json plus its built files. */
  dir: string;
  /** Catalogue name of the service (a subject token). */
  name: string;
  version: string;
  /** Image the service is layered on: the worker, which loads the service's module. */
  workerImage: string;
  /** Repository prefix, e.g. 127.0.0.1:5000; the tag is <registry>/livemesh/<name>:<version>. */
  registry?: string;
  /** Module the worker loads, relative to `dir` (package.json's main). */
  main: string;
  env?: Record<string, string>;
  config?: Record<string, unknown>;
  onProgress?: ProgressSink;
}

export function serviceImageTag(name: string, version: string, registry?: string): string {
  return `${registry ? `${registry.replace(/\/+$/, '')}/` : ''}livemesh/${assertToken('service', name)}:${version}`;
}

/**
 * Packages a stage-SDK service as an image on top of the worker image. Its environment and
 * configuration are recorded as labels, so an image found in a registry says how it was meant to
 * run; the environment also becomes the image's ENV.
 */
export async function buildServiceImage(docker: Docker, opts: ServiceImageOptions): Promise<{ tag: string; id: string }> {
  const tag = serviceImageTag(opts.name, opts.version, opts.registry);
  const ctx = await mkdtemp(join(tmpdir(), 'livemesh-svc-'));
  try {
    const files = await serviceFiles(opts.dir);
    for (const f of files) await cp(join(opts.dir, f), join(ctx, 'service', f), { recursive: true, dereference: false });
    const main = normalize(opts.main).replace(/^(\.\/)+/, '');
    if (main.startsWith('..')) throw new RuntimeError(`the service's main ${opts.main} is outside ${opts.dir}`);
    await writeFile(join(ctx, 'Dockerfile'), serviceDockerfile(opts.name, main, opts.env ?? {}));
    opts.onProgress?.(`image ${tag}: ${files.join(', ')} on ${opts.workerImage}`);
    const env = opts.env ?? {};
    const config = opts.config ?? {};
    const stream = await buildStream(docker, () =>
      docker.buildImage({ context: ctx, src: ['Dockerfile', 'service'] }, {
        t: tag,
        buildargs: { WORKER_IMAGE: opts.workerImage },
        labels: {
          [LABELS.managed]: 'true',
          [LABELS.role]: 'service',
          [LABELS.service]: opts.name,
          [LABELS.version]: opts.version,
          [LABELS.env]: JSON.stringify(env),
          [LABELS.config]: JSON.stringify(config),
          [LABELS.envHash]: hashOf(env),
          [LABELS.configHash]: hashOf(config),
        },
        networkmode: 'host',
        rm: true,
        forcerm: true,
      }),
    );
    return { tag, id: imageId(await followProgress(docker, stream, opts.onProgress), tag) };
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
}

/** Pushes a tag and returns the registry's manifest digest (sha256:...). */
export async function pushImage(docker: Docker, tag: string, onProgress?: ProgressSink): Promise<string> {
  let stream: NodeJS.ReadableStream;
  try {
    // The engine wants an X-Registry-Auth header even for a registry without authentication.
    stream = await docker.getImage(tag).push({ authconfig: {} } as object);
  } catch (e) {
    throw new RuntimeError(`push of ${tag} could not start: ${(e as Error).message}`, { cause: e });
  }
  let events: ProgressEvent[];
  try {
    events = await followProgress(docker, stream, onProgress);
  } catch (e) {
    throw new RuntimeError(`push of ${tag} failed: ${(e as Error).message}`, { cause: e });
  }
  const digest = events.map((e) => e.aux?.Digest ?? e.status?.match(/digest: (sha256:[0-9a-f]{64})/)?.[1]).find(Boolean);
  if (!digest) throw new RuntimeError(`push of ${tag} finished without a digest from the registry`);
  return digest;
}

/** What of a service folder goes into its image: package.json's `files`, else dist/ (or the folder without sources). */
async function serviceFiles(dir: string): Promise<string[]> {
  const pkg = (await readPackageJson(dir)) as { files?: string[]; dependencies?: Record<string, string> };
  const deps = Object.keys(pkg.dependencies ?? {}).filter((d) => !d.startsWith('@livemesh/'));
  const base = pkg.files?.length ? pkg.files : ['dist'];
  const files = ['package.json', ...base];
  if (deps.length) {
    // The worker image provides @livemesh/*; anything else the service installed itself comes along.
    const closure = await runtimeFiles(dir, ['.'], { provided: (n) => n.startsWith('@livemesh/') });
    files.push(...closure.filter((f) => f.startsWith('node_modules/')));
  }
  return [...new Set(files.map((f) => relative('.', f)))];
}

/** A Dockerfile ENV value: quoted, with the characters the parser treats specially escaped. */
function dockerQuote(value: string): string {
  if (/[\r\n]/.test(value)) throw new RuntimeError('environment values may not contain line breaks');
  return `"${value.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

export function serviceDockerfile(name: string, main: string, env: Record<string, string>): string {
  const bad = serviceEnvProblems(env);
  if (bad.length) throw new RuntimeError(`environment names or values are not allowed: ${bad.join('; ')}`);
  const dir = `/app/services/${assertToken('service', name)}`;
  const lines = [
    '# Generated by `livemesh service build`: the worker image plus one stage module.',
    'ARG WORKER_IMAGE',
    'FROM ${WORKER_IMAGE}',
    `COPY service/ ${dir}/`,
    // The worker's loader takes stage modules only from under LIVEMESH_STAGE_DIR.
    `ENV LIVEMESH_SERVICE=${dockerQuote(name)} LIVEMESH_STAGE_DIR="/app/services" LIVEMESH_STAGE_MODULE=${dockerQuote(`${dir}/${main}`)}`,
    ...Object.entries(env).map(([k, v]) => `ENV ${k}=${dockerQuote(v)}`),
    `USER ${IMAGE_USER.uid}:${IMAGE_USER.gid}`,
  ];
  return lines.join('\n') + '\n';
}

async function buildStream(docker: Docker, start: () => Promise<NodeJS.ReadableStream>): Promise<NodeJS.ReadableStream> {
  try {
    return await start();
  } catch (e) {
    throw new RuntimeError(`the engine at ${engineAddress(docker)} refused the build: ${(e as Error).message}`, { cause: e });
  }
}

function imageId(events: ProgressEvent[], tag: string): string {
  const id = events.map((e) => e.aux?.ID ?? e.stream?.match(/Successfully built ([0-9a-f]+)/)?.[1]).filter(Boolean).pop();
  if (!id) throw new RuntimeError(`the build of ${tag} ended without an image id`);
  return id;
}

function engineAddress(docker: Docker): string {
  const m = docker.modem as unknown as { socketPath?: string; host?: string; port?: number };
  return m.socketPath ? `unix://${m.socketPath}` : `tcp://${m.host}:${m.port}`;
}
