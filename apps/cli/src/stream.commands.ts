import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import { readSegment } from '@livemesh/bus';
import { STREAMS, subjects, type StreamView, type CliSettings } from '@livemesh/contracts';
import { apiClient } from './api.client.js';
import { collectPair, collectStage, connectBus, print, startRequestBody, type StartFlags } from './options.js';

export function registerStreamCommands(program: Command, env: CliSettings): void {
  const api = () => apiClient(program, env);
  const stream = program.command('stream').description('start, stop, inspect, change and record live streams');

  stream
    .command('start <id>')
    .description('start a stream: plan its chain, start or reuse the services, print publish and playback URLs')
    .option('-p, --pipeline <name>', 'use this pipeline instead of letting selectors choose')
    .option('-s, --stage <service[:json]>', 'an explicit stage, repeatable, in chain order', collectStage)
    .option('--source <url>', 'pull the stream from this URL (rtmp, srt, http(s) HLS) instead of waiting for a publish')
    .option('-a, --attr <key=value>', 'an attribute pipeline selectors match on, repeatable', collectPair)
    .option('--no-fuse', 'run every stage as its own hop (default: adjacent built-in video stages share one decode and encode)')
    .action(async (id: string, o: StartFlags) => print(await api().request<StreamView>('POST', '/api/streams', startRequestBody(id, o))));

  stream
    .command('stop <id>')
    .description('stop a stream: refuse further publishes, drain in-flight segments, end the playlist')
    .action(async (id: string) => print(await api().request('DELETE', `/api/streams/${encodeURIComponent(id)}`)));

  stream
    .command('ls')
    .description('list streams: id, state, chain version and services in chain order')
    .action(async () => {
      const list = await api().get<StreamView[]>('/api/streams');
      if (list.length === 0) process.stderr.write('no streams\n');
      for (const s of list) process.stdout.write(`${s.id}\t${s.state}\tv${s.chain.version}\t${chainLine(s.chain.hops)}\n`);
    });

  stream
    .command('show <id>')
    .description('show a stream: state, chain (hops, subjects, parameters), per-hop counters, publish and playback URLs, errors')
    .action(async (id: string) => print(await api().get(`/api/streams/${encodeURIComponent(id)}`)));

  stream
    .command('rotate-key <id>')
    .description('give a live stream a new publish key and print it (the only time it is shown); the old key stops working at once')
    .option('--key-stdin', "use the key read from stdin (a platform's own key; strength-checked) instead of a generated one", false)
    .action(async (id: string, o: { keyStdin: boolean }) => {
      // Read from stdin, never taken as an argument: argv is readable by every local user.
      const body = o.keyStdin ? { key: await readKeyFromStdin() } : {};
      print(await api().request('POST', `/api/streams/${encodeURIComponent(id)}/key`, body));
    });

  stream
    .command('change <id>')
    .description('replace the chain of a live stream; the next segment takes the new chain')
    .requiredOption('-s, --stage <service[:json]>', 'a stage of the new chain, repeatable, in order', collectStage)
    .option('--no-fuse', 'run every stage as its own hop (default: adjacent built-in video stages share one decode and encode)')
    .action(async (id: string, o: { stage: unknown[]; fuse: boolean }) =>
      print(await api().request('PATCH', `/api/streams/${encodeURIComponent(id)}/chain`, { stages: o.stage, ...(o.fuse ? {} : { fuse: false }) })),
    );

  stream
    .command('record <id> <file>')
    .description('write the finished segments of a stream (from its output subject) into one MPEG-TS file until Ctrl-C')
    .option('-r, --rendition <name>', 'rendition to record', 'main')
    .option('--from-start', 'start with the oldest segment the output subject still keeps', false)
    .action(async (id: string, file: string, o: { rendition: string; fromStart: boolean }) => {
      const bus = await connectBus(program, 'cli-record');
      const out = createWriteStream(file);
      const consumer = await bus.orderedConsumer(STREAMS.output, { filter: subjects.output(id, o.rendition), startAt: o.fromStart ? 'all' : 'new' });
      const messages = await consumer.consume();
      const stop = () => messages.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      let n = 0;
      for await (const m of messages) {
        const seg = await readSegment(bus, m);
        // A gap marker: a hop dropped this seq as late, there are no bytes to record.
        if (seg.meta.gap) continue;
        out.write(seg.data);
        n++;
        process.stderr.write(`\rrecorded ${n} segments (seq ${seg.meta.seq})`);
      }
      await new Promise((r) => out.end(r));
      await bus.close();
      process.stderr.write(`\nwrote ${file}\n`);
    });
}

/** `watermark+transcode -> audio`: the chain's services in order, a fused hop's joined by `+`. */
export function chainLine(hops: StreamView['chain']['hops']): string {
  const parts: string[] = [];
  for (const h of hops) {
    if (h.fusedInto !== undefined && parts.length > 0) parts[parts.length - 1] += `+${h.service}`;
    else parts.push(h.service);
  }
  return parts.join(' -> ');
}

/** The first line of stdin, trimmed (a key piped in or typed). */
async function readKeyFromStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n') || text.length > 1024) break;
  }
  return text.split('\n')[0]!.trim();
}
