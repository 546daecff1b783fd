import type { Command } from 'commander';
import type { CliSettings } from '@livemesh/contracts';
import { apiClient } from './api.client.js';
import { parseCount, print, readSpecFile } from './options.js';
import { registerServiceBuildCommand } from './service-build.command.js';

export function registerCatalogueCommands(program: Command, env: CliSettings): void {
  const api = () => apiClient(program, env);

  const service = program.command('service').description('list, show, register, build and scale the business services in the catalogue');
  registerServiceBuildCommand(service, program, env);
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
    .description('register (or replace) a service from a YAML or JSON spec file: image or module, env, config, parameter schema, replica bounds')
    .requiredOption('-f, --file <path>', 'service spec file')
    .action(async (o: { file: string }) => {
      const spec = (await readSpecFile(o.file)) as { name?: string };
      const path = spec?.name ? `/api/services/${encodeURIComponent(spec.name)}` : '/api/services';
      print(await api().request(spec?.name ? 'PUT' : 'POST', path, spec));
    });
  service
    .command('scale <name> <replicas>')
    .description('run exactly this many workers of a service, whatever streams use it (they share its consumer); kept while streams use it, also across an orchestrator restart')
    .action(async (name: string, replicas: string) =>
      print(await api().request('POST', `/api/services/${encodeURIComponent(name)}/scale`, { replicas: parseCount(replicas) })),
    );
  service
    .command('instances <name>')
    .description('list the running workers (processes or containers) of a service')
    .action(async (name: string) => {
      const { instances } = await api().get<{ instances: { id: string; state: string; startedAt: string }[] }>(`/api/services/${encodeURIComponent(name)}/instances`);
      for (const i of instances) process.stdout.write(`${i.id}\t${i.state}\tsince ${i.startedAt}\n`);
    });

  const pipeline = program.command('pipeline').description('list, show and apply pipelines: named chains of stages that selectors pick for a stream');
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
    .description('show a pipeline: stages with parameters, selectors, priority')
    .action(async (name: string) => print(await api().get(`/api/pipelines/${encodeURIComponent(name)}`)));
  pipeline
    .command('apply')
    .description('create or replace a pipeline from a YAML or JSON file (checked: every service known, every parameter valid)')
    .requiredOption('-f, --file <path>', 'pipeline spec file')
    .action(async (o: { file: string }) => {
      const spec = (await readSpecFile(o.file)) as { name?: string };
      if (!spec?.name) throw new Error(`${o.file}: a pipeline needs a name`);
      print(await api().request('PUT', `/api/pipelines/${encodeURIComponent(spec.name)}`, spec));
    });
}
