import type { Command } from 'commander';
import { ApiClient } from './api.client.js';
import { print, readSpecFile } from './options.js';

export function registerCatalogueCommands(program: Command): void {
  const api = () => new ApiClient(program.opts<{ api: string }>().api);

  const service = program.command('service').description('the catalogue of business services');
  service
    .command('ls')
    .description('list services with version, input kind and replica bounds')
    .action(async () => {
      const list = await api().get<{ name: string; version: string; input: string; minReplicas: number; maxReplicas: number; builtIn?: boolean }[]>('/api/services');
      for (const s of list) {
        process.stdout.write(`${s.name}\t${s.version}\t${s.input}\treplicas ${s.minReplicas}-${s.maxReplicas}${s.builtIn ? '\tbuilt-in' : ''}\n`);
      }
    });
  service
    .command('show <name>')
    .description('show a service: image, environment, configuration, parameter schema')
    .action(async (name: string) => print(await api().get(`/api/services/${encodeURIComponent(name)}`)));
  service
    .command('register')
    .description('register (or update) a service from a YAML or JSON spec file')
    .requiredOption('-f, --file <path>', 'service spec file')
    .action(async (o: { file: string }) => {
      const spec = (await readSpecFile(o.file)) as { name?: string };
      const path = spec?.name ? `/api/services/${encodeURIComponent(spec.name)}` : '/api/services';
      print(await api().request(spec?.name ? 'PUT' : 'POST', path, spec));
    });
  service
    .command('scale <name> <replicas>')
    .description('run exactly this many workers of a service, whatever streams use it')
    .action(async (name: string, replicas: string) =>
      print(await api().request('POST', `/api/services/${encodeURIComponent(name)}/scale`, { replicas: Number(replicas) })),
    );

  const pipeline = program.command('pipeline').description('named chains of stages with selectors');
  pipeline
    .command('ls')
    .description('list pipelines with their stages and selectors')
    .action(async () => {
      const list = await api().get<{ name: string; stages: { service: string }[]; selectors?: object; default?: boolean }[]>('/api/pipelines');
      for (const p of list) {
        process.stdout.write(`${p.name}\t${p.stages.map((s) => s.service).join(' -> ')}\t${JSON.stringify(p.selectors ?? {})}${p.default ? '\tdefault' : ''}\n`);
      }
    });
  pipeline
    .command('show <name>')
    .description('show a pipeline')
    .action(async (name: string) => print(await api().get(`/api/pipelines/${encodeURIComponent(name)}`)));
  pipeline
    .command('apply')
    .description('create or replace a pipeline from a YAML or JSON file')
    .requiredOption('-f, --file <path>', 'pipeline spec file')
    .action(async (o: { file: string }) => {
      const spec = (await readSpecFile(o.file)) as { name?: string };
      if (!spec?.name) throw new Error(`${o.file}: a pipeline needs a name`);
      print(await api().request('PUT', `/api/pipelines/${encodeURIComponent(spec.name)}`, spec));
    });
}
