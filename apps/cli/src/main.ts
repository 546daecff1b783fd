import { Command } from 'commander';
import { loadEnv } from '@livemesh/contracts';
import { registerEventCommands } from './events.command.js';
import { registerCatalogueCommands } from './catalogue.commands.js';
import { registerStreamCommands } from './stream.commands.js';
import { registerUpCommand } from './up.command.js';
import { registerImageCommands } from './service-build.command.js';

const env = loadEnv();
const program = new Command('livemesh')
  .description('Run livemesh and operate it: streams, services, pipelines and events.')
  .option('--api <url>', 'orchestrator base URL', `http://${env.LIVEMESH_PUBLIC_HOST}:${env.HTTP_PORT}`)
  .showHelpAfterError();

registerUpCommand(program, env);
registerStreamCommands(program, env);
registerCatalogueCommands(program);
registerEventCommands(program, env);
registerImageCommands(program, env);

program.parseAsync().catch((e: Error) => {
  process.stderr.write(`livemesh: ${e.message}\n`);
  process.exitCode = 1;
});
