import { access, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { ServiceSpec, validateMessage, type CliSettings } from '@livemesh/contracts';
import { describeNotAStage, type StageDefinition } from '@livemesh/stage-sdk';
import {
  APP_IMAGES,
  appEntry,
  appImageTag,
  buildAppImage,
  buildNatsImage,
  natsImageTag,
  buildServiceImage,
  createDockerClient,
  imageExists,
  pushImage,
  type AppName,
} from '@livemesh/runtime';
import { apiClient } from './api.client.js';
import { collectPair, print, readSpecFile } from './options.js';

interface BuildOptions {
  push?: string;
  env: Record<string, string>;
  config?: string;
  workerImage?: string;
  rebuildWorker: boolean;
  register: boolean;
}

/** The optional `livemesh` block of a service's package.json: catalogue fields the stage does not declare. */
interface PackageMeta {
  name?: string;
  description?: string;
  env?: Record<string, string>;
  config?: Record<string, unknown>;
  minReplicas?: number;
  maxReplicas?: number;
}

const log = (line: string) => process.stdout.write(`${line}\n`);

/** Runs one step of a command; a failure names the step. */
async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new Error(`${what} failed: ${(e as Error).message}`, { cause: e });
  }
}

/** The checkout these apps were built in: the nearest folder above the worker with a workspaces package.json. */
async function checkoutRoot(): Promise<string> {
  for (let dir = dirname(appEntry('worker')); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { workspaces?: unknown };
      if (pkg.workspaces) return dir;
    } catch {
      /* no package.json here */
    }
  }
  throw new Error('cannot find the livemesh checkout the worker was built in');
}

/**
 * `livemesh service build <dir> [--push <registry>]`: packages a service written with the stage
 * SDK as an image on the worker image, records its environment and configuration as labels,
 * pushes it, and registers it in the catalogue with the image and the pushed digest.
 */
export function registerServiceBuildCommand(service: Command, program: Command, env: CliSettings): void {
  service
    .command('build <dir>')
    .description('build a stage-SDK service (its folder, built) into an image, push it and register it in the catalogue')
    .option('--push <registry>', 'push to this registry (host:port), e.g. 127.0.0.1:5000')
    .option('-e, --env <key=value>', 'environment of every container of the service (repeatable)', collectPair, {})
    .option('--config <file>', 'service configuration (YAML or JSON object) handed to the stage')
    .option('--worker-image <ref>', 'image to build on (default: LIVEMESH_WORKER_IMAGE, built from this checkout when missing)')
    .option('--rebuild-worker', 'rebuild the worker image from this checkout first', false)
    .option('--no-register', 'do not register the service in the catalogue')
    .action(async (dir: string, o: BuildOptions) => {
      const folder = resolve(dir);
      const pkg = await step('reading package.json', async () => JSON.parse(await readFile(join(folder, 'package.json'), 'utf8')) as { name?: string; version?: string; description?: string; main?: string; livemesh?: PackageMeta });
      const main = pkg.main ?? 'dist/index.js';
      const stage = await step(`loading the stage from ${main}`, async () => {
        await access(join(folder, main)).catch(() => {
          throw new Error(`${join(folder, main)} does not exist; build the service first`);
        });
        const mod = (await import(pathToFileURL(join(folder, main)).href)) as { default?: unknown };
        // The same check the worker makes when it loads the module, so an image that builds also starts.
        const problems = describeNotAStage(mod.default);
        if (problems.length) throw new Error(`the default export of ${main} is not a stage (defineStage() from @livemesh/stage-sdk): ${problems.join('; ')}`);
        const def = mod.default as StageDefinition<object>;
        return { name: def.name, params: def.params as Record<string, unknown>, input: def.input };
      });
      const meta = pkg.livemesh ?? {};
      const name = meta.name ?? stage.name;
      const version = pkg.version ?? '0.0.0';
      const config = o.config ? await step(`reading ${o.config}`, async () => (await readSpecFile(o.config!)) as Record<string, unknown>) : (meta.config ?? {});
      const serviceEnv = { ...(meta.env ?? {}), ...o.env };

      const docker = createDockerClient(env.DOCKER_HOST);
      const workerImage = o.workerImage ?? env.LIVEMESH_WORKER_IMAGE;
      if (o.rebuildWorker || !(await step(`looking for ${workerImage}`, () => imageExists(docker, workerImage)))) {
        await step(`building the worker image ${workerImage}`, async () => buildAppImage(docker, { root: await checkoutRoot(), app: 'worker', tag: workerImage, onProgress: log }));
      }
      const built = await step(`building the image of ${name}`, () =>
        buildServiceImage(docker, { dir: folder, name, version, workerImage, registry: o.push, main, env: serviceEnv, config, onProgress: log }),
      );
      log(`built ${built.tag} (${built.id})`);
      let digest: string | undefined;
      if (o.push) {
        digest = await step(`pushing ${built.tag}`, () => pushImage(docker, built.tag, log));
        log(`pushed ${built.tag}@${digest}`);
      }
      const spec: ServiceSpec = {
        name,
        version,
        description: meta.description ?? pkg.description,
        run: { image: built.tag, ...(digest ? { digest } : {}) },
        env: serviceEnv,
        config,
        paramSchema: stage.params,
        input: stage.input as ServiceSpec['input'],
        minReplicas: meta.minReplicas ?? 0,
        maxReplicas: meta.maxReplicas ?? 4,
      };
      const checked = await step('checking the catalogue entry', async () => validateMessage(ServiceSpec, JSON.parse(JSON.stringify(spec)) as object, 'service spec'));
      if (o.register) {
        const api = apiClient(program, env);
        const path = `/api/services/${encodeURIComponent(name)}`;
        await step(`registering ${name} in the catalogue at ${api.baseUrl}`, async () => {
          const existing = await api.get<ServiceSpec>(path).catch(() => undefined);
          // Replica bounds and start parameters are operators' choices: a rebuild keeps them.
          const merged = existing ? { ...checked, minReplicas: existing.minReplicas, maxReplicas: existing.maxReplicas, startParams: existing.startParams } : checked;
          return existing ? api.request('PUT', path, merged) : api.request('POST', '/api/services', merged);
        });
        log(`registered ${name} ${version}`);
      }
      print({ service: name, version, image: built.tag, digest: digest ?? null });
    });
}

/** `livemesh image build [images...]`: the base, app images (deploy/<app>/Dockerfile) and the NATS image from this checkout. */
export function registerImageCommands(program: Command, env: CliSettings): void {
  const names = [...Object.keys(APP_IMAGES), 'nats'];
  program
    .command('image')
    .description('livemesh\'s own images')
    .command('build [images...]')
    .description(`build the base image and livemesh's images (${names.join(', ')}) from this checkout after \`npm run build\`; nats carries this machine's nats-server`)
    .option('--push <registry>', 'tag for this registry (host:port) and push')
    .action(async (images: string[], o: { push?: string }) => {
      const docker = createDockerClient(env.DOCKER_HOST);
      const root = await checkoutRoot();
      const version = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }).version;
      const wanted = images.length ? images : names;
      const unknown = wanted.filter((a) => !names.includes(a));
      if (unknown.length) throw new Error(`unknown image(s): ${unknown.join(', ')}; choose from ${names.join(', ')}`);
      for (const name of wanted) {
        let tag: string;
        if (name === 'nats') {
          tag = natsImageTag(version, o.push);
          const built = await step(`building ${tag}`, () => buildNatsImage(docker, { tag, onProgress: log }));
          log(`built ${built.tag} (nats-server ${built.natsVersion})`);
        } else {
          tag = appImageTag(name as AppName, version, o.push);
          const built = await step(`building ${tag}`, () => buildAppImage(docker, { root, app: name as AppName, tag, onProgress: log }));
          log(`built ${built.tag} (${built.id})`);
        }
        if (o.push) log(`pushed ${tag}@${await step(`pushing ${tag}`, () => pushImage(docker, tag, log))}`);
      }
    });
}
