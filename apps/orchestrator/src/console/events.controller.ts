import { Controller, Get, Inject, Logger, Query, Req, Res, type BeforeApplicationShutdown } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Bus, type MessageFeed, type ConsumedMsg } from '@livemesh/bus';
import { STREAMS, ValidationFailedError, isToken, subjects } from '@livemesh/contracts';
import { Scopes } from '../auth/auth.decorators.js';

/** A status event larger than this is not passed on (a worker's event is outside input). */
const MAX_EVENT_BYTES = 64 * 1024;
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEP_ALIVE_MS = 15_000;

interface SseResponse {
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: string): boolean;
  end(): unknown;
  flushHeaders?(): void;
}
interface SseRequest {
  on(event: 'close', cb: () => void): unknown;
}

/**
 * What is passed on of a message on `lm.evt.stream.>` or `lm.evt.service.>`: the SSE event name
 * and the JSON body, or undefined for a message that is not what its subject says. Platform events
 * (`lm.evt.platform.>`, which may carry a publish key) are never read here.
 */
export function sseEventOf(subject: string, data: Uint8Array): { name: 'stream' | 'service'; body: Record<string, unknown> } | undefined {
  if (data.byteLength > MAX_EVENT_BYTES) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b.kind !== 'string' || typeof b.at !== 'string') return undefined;
  const parts = subject.split('.');
  if (parts.length !== 5 || parts[0] !== 'lm' || parts[1] !== 'evt' || parts[4] !== b.kind) return undefined;
  if (parts[2] === 'stream' && isToken(b.streamId) && parts[3] === b.streamId) return { name: 'stream', body: b };
  if (parts[2] === 'service' && isToken(b.service) && parts[3] === b.service) return { name: 'service', body: b };
  return undefined;
}

/**
 * GET /api/events: the status events of every stream and service as server-sent events, for the
 * console (live updates without polling). With `stream`, that stream's events from the oldest
 * LM_EVT still holds, then live. Read with fetch() and the Authorization header (an EventSource
 * cannot send one, and a token never goes in a URL).
 */
@ApiTags('console')
@Controller('api/events')
export class EventsController implements BeforeApplicationShutdown {
  private readonly logger = new Logger(EventsController.name);
  private readonly open = new Set<() => void>();

  constructor(@Inject(Bus) private readonly bus: Bus) {}

  @Get()
  @Scopes('read')
  @ApiOperation({ summary: 'Status events (lm.evt.stream.> and lm.evt.service.>) as text/event-stream: event `stream` or `service`, id = LM_EVT sequence' })
  @ApiQuery({ name: 'stream', required: false, description: 'only this stream\'s events, from the oldest stored one' })
  @ApiProduces('text/event-stream')
  async events(@Query('stream') stream: string | undefined, @Req() req: SseRequest, @Res() res: SseResponse): Promise<void> {
    if (stream !== undefined && !isToken(stream)) throw new ValidationFailedError('bad query', [`stream "${String(stream).slice(0, 80)}" is not a stream id (letters, digits, '-' and '_', 1-64)`]);
    // One filter (a consumer with several needs nats-server 2.10); sseEventOf drops platform events.
    const filter = stream ? subjects.streamEvents(stream) : subjects.allEvents;
    // A client that leaves while the consumer is being made must not leave the consumer behind.
    let gone = false;
    req.on('close', () => (gone = true));
    const consumer = await this.bus.orderedConsumer(STREAMS.events, { filter, startAt: stream ? 'all' : 'new' });
    const feed: MessageFeed<ConsumedMsg> = await consumer.consume();
    if (gone) {
      feed.stop();
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', connection: 'keep-alive' });
    res.write(': livemesh events\n\n');
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    keepAlive.unref();
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(keepAlive);
      feed.stop();
      this.open.delete(close);
      res.end();
    };
    this.open.add(close);
    req.on('close', close);
    void (async () => {
      try {
        for await (const m of feed) {
          const e = sseEventOf(m.subject, m.data);
          if (e) res.write(`event: ${e.name}\nid: ${m.info.streamSequence}\ndata: ${JSON.stringify(e.body)}\n\n`);
        }
      } catch (e) {
        if (!closed) this.logger.warn(`event stream ended: ${(e as Error).message}`);
      } finally {
        close();
      }
    })();
  }

  beforeApplicationShutdown(): void {
    for (const close of [...this.open]) close();
  }
}
