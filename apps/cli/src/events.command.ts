import type { Command } from 'commander';
import { publishJson, type Bus } from '@livemesh/bus';
import { STREAM_EVENT_FIELDS, StartStreamRequest, StopStreamRequest, subjects, validateMessage } from '@livemesh/contracts';
import { collectPair, collectStage, connectBus, startRequestBody, type StartFlags } from './options.js';

export function registerEventCommands(program: Command): void {
  program
    .command('events')
    .description('tail status events (chain ready, chain changed, stage failed, dead letters, ended...) as JSON lines until Ctrl-C')
    .option('--stream <id>', 'only the events of this stream')
    .addHelpText('after', `\nKinds and their data fields:\n${describeKinds()}`)
    .action(async (o: { stream?: string }) => {
      const subject = subjects.streamEvents(o.stream);
      const bus = await connectBus(program, 'cli-events');
      const sub = bus.subscribe(subject);
      const stop = () => sub.unsubscribe();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // Only once the server has the subscription does "listening" mean no later event is missed.
      await bus.flush();
      process.stderr.write(`listening on ${subject} (Ctrl-C to stop)\n`);
      for await (const m of sub) process.stdout.write(`${m.string()}\n`);
      await bus.close();
    });

  const platform = program
    .command('platform')
    .description('publish stream start/stop events on NATS the way a streaming platform does (JetStream, durable)');
  platform
    .command('start-event <id>')
    .description(`publish a stream-start event on ${subjects.platformStarted}; the orchestrator starts the stream from it`)
    .option('-p, --pipeline <name>', 'pipeline to use')
    .option('-s, --stage <service[:json]>', 'an explicit stage, repeatable, in chain order', collectStage)
    .option('-a, --attr <key=value>', 'attribute for pipeline selectors, repeatable', collectPair)
    .option('--source <url>', 'pull the stream from this URL')
    .action(async (id: string, o: StartFlags) => {
      const body = validateMessage(StartStreamRequest, startRequestBody(id, o), 'stream-start event');
      await publishOnce(await connectBus(program, 'cli-platform'), subjects.platformStarted, body);
    });
  platform
    .command('stop-event <id>')
    .description(`publish a stream-stop event on ${subjects.platformStopped}; the orchestrator stops the stream from it`)
    .action(async (id: string) =>
      publishOnce(await connectBus(program, 'cli-platform'), subjects.platformStopped, validateMessage(StopStreamRequest, { id }, 'stream-stop event')),
    );
}

async function publishOnce(bus: Bus, subject: string, body: object): Promise<void> {
  try {
    await publishJson(bus, subject, body);
    process.stdout.write(`published ${subject} ${JSON.stringify(body)}\n`);
  } finally {
    await bus.close();
  }
}

/** One line per kind: `  dead-letter      code (error code ...), attempts (...)`. */
function describeKinds(): string {
  const kinds = Object.entries(STREAM_EVENT_FIELDS) as [string, Record<string, string>][];
  const width = Math.max(...kinds.map(([k]) => k.length));
  return kinds
    .map(([kind, fields]) => {
      const list = Object.entries(fields).map(([f, what]) => `${f}: ${what}`).join('; ');
      return `  ${kind.padEnd(width)}  ${list || 'no data'}`;
    })
    .join('\n');
}
