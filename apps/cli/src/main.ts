#!/usr/bin/env node
import { Command } from 'commander';
import { BusError, loadProcessEnv, type CliSettings } from '@livemesh/contracts';
import { registerEventCommands } from './events.command.js';
import { registerCatalogueCommands } from './catalogue.commands.js';
import { registerStreamCommands } from './stream.commands.js';
import { registerTokenCommands } from './token.commands.js';
import { registerUpCommand } from './up.command.js';
import { registerImageCommands } from './service-build.command.js';

function fail(e: Error): void {
  const cause = e instanceof BusError && e.cause instanceof Error ? ` (${e.cause.message})` : '';
  process.stderr.write(`livemesh: ${e.message}${cause}\n`);
  process.exitCode = 1;
}

let env: CliSettings | undefined;
try {
  env = loadProcessEnv('cli');
} catch (e) {
  fail(e as Error);
}

if (env) {
  const program = new Command('livemesh')
    .description('Run livemesh and operate it: streams, services, pipelines and events.')
    .option('--api <url>', 'orchestrator base URL', `http://${env.LIVEMESH_PUBLIC_HOST}:${env.HTTP_PORT}`)
    .option('--nats <url>', 'NATS server (events, platform, stream record)', env.NATS_URL)
    .option('--creds <file>', 'NATS credentials file for --nats (e.g. .livemesh/platform.creds for platform events)', env.NATS_CREDS)
    .showHelpAfterError()
    .addHelpText(
      'after',
      `
Examples:
  livemesh up --demo                                  run the whole mesh here, with a demo stream
  livemesh stream start room-42                       start a stream; prints its RTMP publish URL and HLS URL
  livemesh stream start room-42 -s 'watermark:{"text":"hi"}' -s 'transcode:{"width":854,"height":480}'
  livemesh stream change room-42 -s passthrough -s 'transcode:{"width":640,"height":360}'
  livemesh pipeline apply -f pipeline.yaml            create or replace a pipeline
  livemesh events --stream room-42                    follow the stream's status events
  livemesh token create --name my-platform --scope platform   an API token for a platform (printed once)
  livemesh platform start-event room-43 -a category=game

Configuration comes from the environment (NATS_URL, HTTP_PORT, ...; see docs/configuration.md).
The API token is LIVEMESH_TOKEN, else the admin token livemesh up wrote to <LIVEMESH_DATA_DIR>/admin.token.`,
    );

  registerUpCommand(program, env);
  registerStreamCommands(program, env);
  registerTokenCommands(program, env);
  registerCatalogueCommands(program, env);
  registerEventCommands(program);
  registerImageCommands(program, env);

  program.parseAsync().catch(fail);
}
