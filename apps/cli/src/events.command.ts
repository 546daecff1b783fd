import type { Command } from 'commander';
import { Bus, publishJson } from '@livemesh/bus';
import { StartStreamRequest, StopStreamRequest, subjects, validateMessage, type Env } from '@livemesh/contracts';
import { collectPair } from './options.js';

export function registerEventCommands(program: Command, env: Env): void {
  program
    .command('events')
    .description('tail status events (chain ready, stage failed, dead letters, ended...) as JSON lines')
    .option('--stream <id>', 'only this stream')
    .action(async (o: { stream?: string }) => {
      const bus = await Bus.connect({ url: env.NATS_URL, name: 'cli-events' });
      const sub = bus.nc.subscribe(subjects.streamEvents(o.stream));
      const stop = () => sub.unsubscribe();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      for await (const m of sub) process.stdout.write(`${m.string()}\n`);
      await bus.close();
    });

  const platform = program.command('platform').description('act as a streaming platform on the bus');
  platform
    .command('start-event <id>')
    .description(`publish a stream-start event on ${subjects.platformStarted}, as a platform would`)
    .option('-p, --pipeline <name>', 'pipeline to use')
    .option('-a, --attr <key=value>', 'attribute for pipeline selectors, repeatable', collectPair)
    .option('--source <url>', 'pull the stream from this URL')
    .action(async (id: string, o: { pipeline?: string; attr?: Record<string, string>; source?: string }) => {
      const body = validateMessage(StartStreamRequest, {
        id,
        ...(o.pipeline ? { pipeline: o.pipeline } : {}),
        ...(o.attr ? { attributes: o.attr } : {}),
        ...(o.source ? { source: { url: o.source } } : {}),
      });
      await publishOnce(env, subjects.platformStarted, body);
    });
  platform
    .command('stop-event <id>')
    .description(`publish a stream-stop event on ${subjects.platformStopped}`)
    .action(async (id: string) => publishOnce(env, subjects.platformStopped, validateMessage(StopStreamRequest, { id })));
}

async function publishOnce(env: Env, subject: string, body: object): Promise<void> {
  const bus = await Bus.connect({ url: env.NATS_URL, name: 'cli-platform' });
  try {
    await publishJson(bus, subject, body);
    process.stdout.write(`published ${subject} ${JSON.stringify(body)}\n`);
  } finally {
    await bus.close();
  }
}
