import { Controller, Get, Inject, Logger } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Bus, isNotFound } from '@livemesh/bus';
import { BUCKETS, ENV, STREAMS, consumers, isToken, subjects, type OrchestratorSettings, type BusView, type ComponentsHealth, type ServiceStatus, type StreamSummary, type WorkerHeartbeat } from '@livemesh/contracts';
import type { ContainerRuntime } from '@livemesh/runtime';
import { Scopes } from '../auth/auth.decorators.js';
import { CatalogueService } from '../catalogue/catalogue.service.js';
import { CONTAINER_RUNTIME } from '../runtime/runtime.tokens.js';
import { StreamsService } from '../streams/streams.service.js';
import { bitratesByStream, summarise, type SubjectCounts } from './console.summary.js';

const BUS_STREAMS = [STREAMS.segments, STREAMS.output, STREAMS.events, STREAMS.deadLetter];

/**
 * What the console shows beyond the stream and catalogue routes, each read in one go for the whole
 * mesh (200 streams cost three stream-info calls, not 600 per-stream ones).
 */
@ApiTags('console')
@Controller('api')
export class ConsoleDataController {
  private readonly logger = new Logger(ConsoleDataController.name);

  constructor(
    @Inject(Bus) private readonly bus: Bus,
    @Inject(StreamsService) private readonly streams: StreamsService,
    @Inject(CatalogueService) private readonly catalogue: CatalogueService,
    @Inject(CONTAINER_RUNTIME) private readonly runtime: ContainerRuntime,
    @Inject(ENV) private readonly env: OrchestratorSettings,
  ) {}

  @Get('console/health')
  @Scopes('read')
  @ApiOperation({ summary: 'What the orchestrator sees of the components: itself, NATS (round trip) and delivery (its /health, behind /hls)' })
  async health(): Promise<ComponentsHealth> {
    const within = <T>(p: Promise<T>): Promise<T> => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 2 s')), 2_000).unref())]);
    let nats: ComponentsHealth['components'][number];
    try {
      if (this.bus.isClosed()) throw new Error('connection closed');
      nats = { name: 'nats', up: true, detail: `round trip ${Math.round((await within(this.bus.rtt())) * 100) / 100} ms` };
    } catch (e) {
      nats = { name: 'nats', up: false, detail: (e as Error).message };
    }
    let delivery: ComponentsHealth['components'][number];
    const url = new URL('/health', this.env.DELIVERY_URL);
    try {
      const res = await within(fetch(url, { signal: AbortSignal.timeout(2_000) }));
      delivery = { name: 'delivery', up: res.ok, detail: `${url.href} answered ${res.status}` };
    } catch (e) {
      delivery = { name: 'delivery', up: false, detail: `${url.href}: ${(e as Error).message}` };
    }
    return { components: [{ name: 'orchestrator', up: true, detail: 'answering' }, nats, delivery] };
  }

  @Get('console/streams')
  @Scopes('read')
  @ApiOperation({ summary: 'Every stream with its pipeline, source, creation time and segment counts (in, out, waiting, dead-lettered), for the console\'s list' })
  async streamList(): Promise<StreamSummary[]> {
    const [rows, counts, cursors] = await Promise.all([this.streams.listWithRecords(), this.subjectCounts(), this.ingestCursors()]);
    return summarise(
      rows.map((r) => r.view),
      new Map(rows.map((r) => [r.view.id, r.record])),
      counts,
      bitratesByStream(cursors),
    );
  }

  @Get('console/services')
  @Scopes('admin')
  @ApiOperation({ summary: 'Every service of the catalogue with its instances, consumer lag and worker heartbeats' })
  async services(): Promise<ServiceStatus[]> {
    const [specs, beats] = await Promise.all([this.catalogue.listServices(), this.heartbeats()]);
    return Promise.all(
      specs.map(async (s) => {
        const instances = await this.runtime.list(s.name).catch((e: Error) => {
          this.logger.warn(`service=${s.name} cannot list instances: ${e.message}`);
          return [];
        });
        return {
          name: s.name,
          version: s.version,
          ...(s.description ? { description: s.description } : {}),
          builtIn: (s as { builtIn?: boolean }).builtIn === true,
          ...(s.minReplicas !== undefined ? { minReplicas: s.minReplicas } : {}),
          ...(s.maxReplicas !== undefined ? { maxReplicas: s.maxReplicas } : {}),
          autoscale: s.autoscale?.enabled === true,
          instances,
          lag: await this.lag(s.name),
          heartbeats: beats
            .filter((h) => h.service === s.name)
            .map((h) => ({ workerId: h.workerId, host: h.host, pid: h.pid, startedAt: h.startedAt, at: h.at, processed: h.processed, failed: h.failed, inFlight: h.inFlight, ...(typeof h.msPerSegment === 'number' && Number.isFinite(h.msPerSegment) ? { msPerSegment: h.msPerSegment } : {}) })),
        };
      }),
    );
  }

  @Get('bus')
  @Scopes('read')
  @ApiOperation({ summary: 'The NATS connection, the sizes of LM_SEG, LM_OUT, LM_EVT and LM_DLQ, and the lag of every durable consumer on them' })
  async busView(): Promise<BusView> {
    let connection: BusView['connection'];
    try {
      connection = { connected: !this.bus.isClosed(), rttMs: Math.round((await this.bus.rtt()) * 100) / 100 };
    } catch (e) {
      connection = { connected: false, error: (e as Error).message };
    }
    const streams = await Promise.all(
      BUS_STREAMS.map(async (name) => {
        try {
          const info = await this.bus.streamInfo(name);
          return { name, messages: info.messages, bytes: info.bytes };
        } catch (e) {
          return { name, messages: 0, bytes: 0, error: (e as Error).message };
        }
      }),
    );
    const names: [string, string, string?][] = [
      [STREAMS.output, consumers.delivery],
      [STREAMS.events, consumers.platformEvents],
      [STREAMS.events, consumers.streamErrors],
    ];
    for (const s of await this.catalogue.listServices().catch(() => [])) names.push([STREAMS.segments, consumers.service(s.name), s.name]);
    const found = await Promise.all(
      names.map(async ([stream, name, service]) => {
        try {
          const c = await this.bus.consumerInfo(stream, name);
          return [{ stream, name, ...(service ? { service } : {}), pending: c.pending, ackPending: c.ackPending, redelivered: c.redelivered }];
        } catch (e) {
          // A service no replica ever ran has no consumer yet: nothing waits on it.
          if (!isNotFound(e)) this.logger.warn(`consumer ${name} on ${stream}: ${(e as Error).message}`);
          return [];
        }
      }),
    );
    return { connection, streams, consumers: found.flat() };
  }

  private async subjectCounts(): Promise<SubjectCounts> {
    const read = async (stream: string, filter: string): Promise<Record<string, number>> => {
      try {
        return (await this.bus.streamInfo(stream, { subjects: filter })).subjects;
      } catch (e) {
        this.logger.warn(`cannot count ${stream}: ${(e as Error).message}`);
        return {};
      }
    };
    const [segments, output, deadLetter] = await Promise.all([
      read(STREAMS.segments, subjects.allSegments),
      read(STREAMS.output, subjects.allOutput),
      read(STREAMS.deadLetter, subjects.allDeadLetter),
    ]);
    return { segments, output, deadLetter };
  }

  /** Every stream's ingest cursor (lm_ingest) in one read: the console's input bitrates. */
  private async ingestCursors(): Promise<unknown[]> {
    try {
      return (await this.bus.store(BUCKETS.ingest).list()).map((e) => e.value);
    } catch (e) {
      this.logger.warn(`cannot read the ingest cursors: ${(e as Error).message}`);
      return [];
    }
  }

  private async lag(service: string): Promise<ServiceStatus['lag']> {
    try {
      const c = await this.bus.consumerInfo(STREAMS.segments, consumers.service(service));
      return { pending: c.pending, ackPending: c.ackPending };
    } catch (e) {
      if (!isNotFound(e)) this.logger.warn(`service=${service} cannot read consumer lag: ${(e as Error).message}`);
      return null;
    }
  }

  private async heartbeats(): Promise<WorkerHeartbeat[]> {
    try {
      // A heartbeat is another process's writing: only a well-formed service name is shown.
      return (await this.bus.store(BUCKETS.workers).list()).map((e) => e.value).filter((h) => isToken(h.service));
    } catch (e) {
      this.logger.warn(`cannot read worker heartbeats: ${(e as Error).message}`);
      return [];
    }
  }
}
