import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Logger } from '@nestjs/common';
import {
  BUCKETS,
  BadSegmentError,
  SEGMENT_HEADERS,
  StageTimeoutError,
  ValidationFailedError,
  isToken,
  latencyBudgetMs,
  loadEnv,
  loadProcessEnv,
  parseSegmentSubject,
  segmentMsgId,
  subjects,
  validateParams,
  type ChainSpec,
  type Segment,
  type SegmentMeta,
  type NewStreamEvent,
  type SegmentsDroppedData,
  type WorkerSettings,
} from '@livemesh/contracts';
import {
  Bus,
  CarryStore,
  ChainCache,
  decodeSegmentHeaders,
  encodeSegmentHeaders,
  bindServiceConsumer,
  busAuthFromEnv,
  ensureServiceConsumer,
  ensureTopology,
  topologyFromEnv,
  waitForTopology,
  publishSegment,
  publishStreamEvent,
  readSegment,
  releaseSegmentBlob,
  type BusConsumer,
  type BusHeaders,
  type ConsumedMsg,
  type TopologyOptions,
} from '@livemesh/bus';
import { checkInspection, inspectTs, runFfmpeg, type SegmentTransform, type TsInspection } from '@livemesh/media';
import { LiveMetrics } from './live.metrics.js';
import { DropLedger, FairQueue, ProcessingEstimate, RecentStreams, lateness, type DropRun, type Lateness } from './live.schedule.js';
import { openMediaEngine, type MediaEngine } from './media.engine.js';
import { SegmentCarryAccess } from './segment.carry.js';
import { checkSegmentProbe, probeSegment, type SegmentProbe } from './segment.inspect.js';
import { REPORT_KINDS, runVideoStep, type ReportKind, type SegmentScope, type StageContext, type StageDefinition, type StageLog, type StageResult, type VideoStep } from './stage.definition.js';
import { StageMetrics, type FailureOutcome } from './stage.metrics.js';
import { decideFailure, describeError, errorCode, fusedMembers, headerSafe, hopFor, planPublishes, retryDelayMs, type HopMember } from './stage.routing.js';
import { checkTransferIn, checkTransferOut } from './transfer.check.js';
import { WorkerHeartbeatWriter, makeWorkerId } from './worker.heartbeat.js';

export interface RunStageOptions {
  /** Defaults to the worker's own environment, loadProcessEnv('worker'). */
  env?: WorkerSettings;
  /** Share an open connection (tests, several stages in one process); the caller closes it. */
  bus?: Bus;
  /**
   * Whether this runner sets up the bus itself (streams, buckets and its service's durable
   * consumer). A worker process does not: the orchestrator owns the topology and a worker's NATS
   * credential may not create any of it, so the runner waits for it and binds. Default: true when
   * given a `bus` (a host with its own rights, e.g. a test), false when it connects itself.
   */
  ownsTopology?: boolean;
  /** The topology it sets up when it owns it; default: the bus limits' defaults (docs/configuration.md). */
  topology?: TopologyOptions;
  /** Segments processed at once; defaults to env.STAGE_CONCURRENCY. */
  concurrency?: number;
  /** Time JetStream waits for an ack or an in-progress signal before redelivering, ms; defaults to env.STAGE_ACK_WAIT_MS. */
  ackWaitMs?: number;
  /** Longest the stage may work on one segment, ms; defaults to env.STAGE_TIMEOUT_MS. */
  stageTimeoutMs?: number;
  /** Deliveries before a segment is dead-lettered; defaults to env.STAGE_MAX_ATTEMPTS. */
  maxAttempts?: number;
  /** How long stop() lets in-flight segments finish before it hands them back (nak), ms. */
  drainTimeoutMs?: number;
  /** Key of this worker's heartbeat in lm_workers; defaults to env.LIVEMESH_WORKER_ID, else host-pid-random. */
  workerId?: string;
  /** The start instruction's parameters; defaults to env.LIVEMESH_START_PARAMS. */
  startParams?: Record<string, unknown>;
  /** The service's configuration; defaults to env.LIVEMESH_SERVICE_CONFIG. */
  config?: Record<string, unknown>;
  /** Prometheus /metrics listener; defaults to env.STAGE_METRICS_PORT (0 = off). Port 0 here picks a free one. */
  metrics?: { port: number; host?: string } | false;
  /** Aborting it stops the stage, like stop(). */
  signal?: AbortSignal;
  /** Drain on SIGTERM/SIGINT; a second signal exits at once. For a worker process, not for tests. */
  handleSignals?: boolean;
  heartbeatIntervalMs?: number;
  /**
   * The other stages this worker can run inside a fused hop (the built-ins of its image). A
   * fused hop naming a stage it cannot find is refused.
   */
  peers?: (service: string) => StageDefinition<object> | undefined;
  /** Overrides env.STAGE_ENGINE (`cli`, `warm` or `auto`). */
  engine?: 'auto' | 'warm' | 'cli';
  /**
   * Most segments pulled and held beyond the busy slots, served round-robin across streams so one
   * stream's backlog cannot hold back another's fresh segments. The runner holds one per other
   * stream it saw in the last 10 s, up to this; none for a single stream, so replicas share it.
   * Default max(16, 2 x concurrency): a worker sees up to 16 other streams past a backlog.
   */
  lookahead?: number;
}

export interface StageHandle {
  readonly service: string;
  readonly workerId: string;
  /** The bound /metrics port, when metrics are on. */
  readonly metricsPort?: number;
  /** Resolves when the stage has stopped; rejects when it stopped because consuming failed. */
  readonly done: Promise<void>;
  /** Stops pulling, lets in-flight segments finish (or hands them back), then closes. Idempotent. */
  stop(): Promise<void>;
}

// Below the process runtime's 15 s stop grace, so in-flight work is handed back before a SIGKILL.
const DEFAULT_DRAIN_MS = 10_000;
/** How long one pull waits for segments when the queue is empty, ms. */
const FETCH_EXPIRES_MS = 1_000;
/** Pause before pulling again after a pull failed. */
const FETCH_RETRY_MS = 250;
/** Pulls failing in a row for this long end the worker (its consumer is gone, or NATS is), so its runtime replaces it. */
const FETCH_GIVE_UP_MS = 60_000;

/** A pulled segment waiting for its turn: its headers read, its chain looked up, no work spent yet. */
interface Held {
  msg: ConsumedMsg;
  /** Undefined when the headers are not a segment's: handle() refuses it. */
  meta?: SegmentMeta;
  chain?: ChainSpec;
}

/** Connects, sets up the bus, and runs `def` until stopped. */
export async function runStage<P extends object>(def: StageDefinition<P>, opts: RunStageOptions = {}): Promise<StageHandle> {
  const runner = new StageRunner(def as unknown as StageDefinition, opts);
  await runner.start();
  return runner;
}

/**
 * The consume -> process -> publish loop of one stage. A segment is acked only after everything
 * it became is stored downstream, so a crash at any point means a redelivery, and the
 * Nats-Msg-Id of each publish makes the repeated publishes harmless.
 */
export class StageRunner implements StageHandle {
  private readonly logger = new Logger(StageRunner.name);
  private readonly env: WorkerSettings;
  readonly service: string;
  readonly workerId: string;
  metricsPort?: number;
  private readonly concurrency: number;
  private readonly ackWaitMs: number;
  private readonly maxAttempts: number;
  private readonly stageTimeoutMs: number;
  private readonly startParams: Record<string, unknown>;
  private readonly config: Record<string, unknown>;
  private readonly drainTimeoutMs: number;
  private readonly metrics: StageMetrics;
  private bus!: Bus;
  private ownsBus = false;
  private chains!: ChainCache;
  private carries!: CarryStore;
  private engine!: MediaEngine;
  private heartbeat?: WorkerHeartbeatWriter;
  private consumer?: BusConsumer;
  private messages?: { stop(err?: Error): void };
  private loopDone: Promise<void> = Promise.resolve();
  private readonly inFlight = new Set<Promise<void>>();
  /** Drops and their reports: no slot, but awaited by the drain. */
  private readonly sideWork = new Set<Promise<void>>();
  private readonly aborts = new Set<AbortController>();
  private readonly roomWaiters: (() => void)[] = [];
  private readonly lookahead: number;
  private readonly held = new FairQueue<Held>();
  private readonly recent = new RecentStreams();
  private readonly estimate = new ProcessingEstimate();
  private readonly drops = new DropLedger();
  private readonly live: LiveMetrics;
  private housekeeping?: NodeJS.Timeout;
  /**
   * ctx.state by stream, then by stage (this worker's own, and each stage it runs inside a fused
   * hop), so dropping a stream's entry with its chain drops every stage's state for it.
   */
  private readonly streamState = new Map<string, Map<string, Map<string, unknown>>>();
  private processed = 0;
  private failed = 0;
  private stopping = false;
  private stopPromise?: Promise<void>;
  private fatal?: unknown;
  private resolveDone!: () => void;
  private rejectDone!: (e: unknown) => void;
  readonly done: Promise<void>;

  constructor(
    private readonly def: StageDefinition,
    private readonly opts: RunStageOptions,
  ) {
    this.env = opts.env ?? loadProcessEnv('worker');
    this.service = def.name;
    this.workerId = opts.workerId ?? (this.env.LIVEMESH_WORKER_ID || makeWorkerId());
    this.startParams = opts.startParams ?? (JSON.parse(this.env.LIVEMESH_START_PARAMS) as Record<string, unknown>);
    this.config = opts.config ?? (JSON.parse(this.env.LIVEMESH_SERVICE_CONFIG) as Record<string, unknown>);
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? this.env.STAGE_CONCURRENCY));
    this.ackWaitMs = opts.ackWaitMs ?? this.env.STAGE_ACK_WAIT_MS;
    this.maxAttempts = opts.maxAttempts ?? this.env.STAGE_MAX_ATTEMPTS;
    this.stageTimeoutMs = opts.stageTimeoutMs ?? this.env.STAGE_TIMEOUT_MS;
    this.drainTimeoutMs = opts.drainTimeoutMs ?? DEFAULT_DRAIN_MS;
    this.metrics = new StageMetrics(this.service);
    this.live = new LiveMetrics(this.metrics.registry, this.service);
    this.lookahead = Math.max(0, Math.floor(opts.lookahead ?? Math.max(16, 2 * this.concurrency)));
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // A caller that never awaits `done` must not see an unhandled rejection.
    this.done.catch(() => undefined);
  }

  async start(): Promise<void> {
    const env = this.env;
    if (this.opts.bus) this.bus = this.opts.bus;
    else {
      this.bus = await Bus.connect({ url: env.NATS_URL, name: `worker:${this.service}:${this.workerId}`, ...busAuthFromEnv(env) });
      this.ownsBus = true;
    }
    const ownsTopology = this.opts.ownsTopology ?? this.opts.bus !== undefined;
    try {
      if (ownsTopology) await ensureTopology(this.bus, this.opts.topology ?? topologyFromEnv(loadEnv({})));
      else await waitForTopology(this.bus, [BUCKETS.chains, BUCKETS.workers, BUCKETS.carry, BUCKETS.blobs, BUCKETS.outputBlobs]);
      this.chains = new ChainCache(this.bus.store(BUCKETS.chains), (streamId) => {
        if (this.streamState.delete(streamId)) this.logger.log(`service=${this.service} streamId=${streamId} chain gone: stream state dropped`);
      });
      await this.chains.start();
      this.carries = new CarryStore(this.bus);
      this.engine = openMediaEngine(this.opts.engine ?? env.STAGE_ENGINE, {
        slots: this.concurrency,
        enginePath: env.ENGINE_PATH,
        recycleAfter: env.ENGINE_RECYCLE_SEGMENTS,
        ffmpegPath: env.FFMPEG_PATH,
        logger: this.logger,
      });
      const metricsOpt = this.opts.metrics ?? (env.STAGE_METRICS_PORT > 0 ? { port: env.STAGE_METRICS_PORT } : false);
      if (metricsOpt) this.metricsPort = await this.metrics.listen(metricsOpt.host ?? env.LIVEMESH_BIND, metricsOpt.port);
      this.heartbeat = new WorkerHeartbeatWriter(this.bus, this.service, this.workerId, () => ({
        processed: this.processed,
        failed: this.failed,
        inFlight: this.inFlight.size,
        // The running estimate the live schedule uses (0 until the first segment: left out then).
        ...(this.estimate.ms > 0 ? { msPerSegment: Math.round(this.estimate.ms) } : {}),
      }), this.opts.heartbeatIntervalMs);
      await this.heartbeat.start();
      this.consumer = ownsTopology
        ? await ensureServiceConsumer(this.bus, this.service, { ackWaitMs: this.ackWaitMs, maxDeliver: this.maxAttempts })
        : await bindServiceConsumer(this.bus, this.service);
    } catch (e) {
      await this.release();
      throw e;
    }
    this.loopDone = this.loop();
    // Held segments are kept alive and re-checked against their budget; drop runs are reported.
    this.housekeeping = setInterval(() => this.keepHeld(), Math.max(250, Math.floor(this.ackWaitMs / 3)));
    if (this.opts.signal) {
      if (this.opts.signal.aborted) void this.stop();
      else this.opts.signal.addEventListener('abort', () => void this.stop(), { once: true });
    }
    if (this.opts.handleSignals) this.installSignalHandlers();
    // What the start instruction said: how an operator (and the Docker e2e test) sees what a replica got.
    this.logger.debug(`service=${this.service} worker=${this.workerId} startParams=${JSON.stringify(this.startParams)}`);
    this.logger.log(`service=${this.service} worker=${this.workerId} consuming ${subjects.serviceFilter(this.service)} (concurrency ${this.concurrency}, lookahead ${this.lookahead}, ${this.maxAttempts} attempts, ${this.engine.kind} media engine${this.metricsPort ? `, metrics on :${this.metricsPort}` : ''})`);
  }

  stop(): Promise<void> {
    this.stopPromise ??= this.drainAndClose();
    return this.stopPromise;
  }

  /**
   * Pulls only what there is room for (free slots plus the lookahead), so every segment in this
   * runner's hands is either being worked on or held with in-progress acks: none waits unseen in
   * a client buffer while its ack wait runs out. A late segment is dropped as it is pulled,
   * without taking a slot, so a backlog of stale segments costs an ack each, not a stage run.
   */
  private async loop(): Promise<void> {
    // The lookahead is asked for only while there is a backlog (the last pull came back full): an
    // idle replica that asked for more than its free slots would keep its pull first in line and
    // take every new segment, leaving the service's other replicas idle.
    let backlog = false;
    /** When pulls began to fail in a row; undefined while they succeed. */
    let failingSince: number | undefined;
    try {
      while (!this.stopping) {
        const room: number = this.concurrency + (backlog ? this.recent.lookahead(Date.now(), this.lookahead) : 0) - this.inFlight.size - this.held.size;
        if (room <= 0) {
          await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
          continue;
        }
        let received = 0;
        try {
          const batch = await this.consumer!.fetch({ maxMessages: room, expiresMs: FETCH_EXPIRES_MS });
          this.messages = batch;
          if (this.stopping) batch.stop();
          for await (const msg of batch) {
            received++;
            if (this.stopping) {
              // Pulled but not started: hand it straight back so another replica takes it now.
              msg.nak();
              continue;
            }
            await this.admit(msg);
            this.dispatch();
          }
          failingSince = undefined;
        } catch (e) {
          if (this.stopping) break;
          // One pull that failed (its idle heartbeats came late on a loaded host, a NATS
          // reconnect) is no reason to die: what it admitted is held, and the next pull goes on.
          // A consumer that keeps failing past FETCH_GIVE_UP_MS is (the worker exits; its runtime
          // replaces it).
          const now = Date.now();
          if (failingSince === undefined) {
            failingSince = now;
            this.logger.warn(`service=${this.service} a pull failed (${describeError(e)}); pulling again`);
          } else if (now - failingSince > FETCH_GIVE_UP_MS) throw e;
          await new Promise((r) => setTimeout(r, FETCH_RETRY_MS));
          continue;
        }
        backlog = received >= room;
      }
    } catch (e) {
      if (!this.stopping) {
        this.logger.error(`service=${this.service} consuming stopped: ${describeError(e)}`);
        this.fatal = e;
      }
    }
    if (!this.stopping) {
      this.fatal ??= new Error(`service ${this.service}: the consumer stopped delivering`);
      void this.stop();
    }
  }

  /** Reads a pulled segment's headers and chain; drops it if it is already late, else holds it for its turn. */
  private async admit(msg: ConsumedMsg): Promise<void> {
    const held: Held = { msg };
    const route = parseSegmentSubject(msg.subject);
    if (route && route.service === this.service) {
      try {
        const meta = decodeSegmentHeaders(msg.headers);
        if (meta.streamId === route.streamId && meta.hop === route.hop && !meta.gap) {
          this.recent.saw(meta.streamId, Date.now());
          held.meta = meta;
          held.chain = await this.chains.get(meta.streamId, meta.chainVersion);
        }
      } catch {
        // Not a segment's headers (or the chain bucket did not answer): handle() says which.
      }
    }
    if (held.meta && this.lateness(held).late) {
      await this.side(this.dropLate(held));
      return;
    }
    this.held.push(held.meta?.streamId ?? '', held);
    msg.working();
    this.live.held(this.held.size);
  }

  /** Starts held segments, round-robin across streams, while slots are free. */
  private dispatch(): void {
    while (!this.stopping && this.inFlight.size < this.concurrency) {
      const next = this.held.take();
      if (!next) break;
      const held = next.item;
      // Time passed while it was held: check again before spending work on it.
      if (held.meta && this.lateness(held).late) {
        void this.side(this.dropLate(held));
        continue;
      }
      const work = this.handle(held.msg, held.meta).catch((e: unknown) => {
        this.logger.error(`service=${this.service} unexpected failure handling ${held.msg.subject}: ${describeError(e)}`);
      });
      this.inFlight.add(work);
      this.metrics.inFlight(this.inFlight.size);
      void work.finally(() => {
        this.inFlight.delete(work);
        this.metrics.inFlight(this.inFlight.size);
        this.dispatch();
        this.roomWaiters.shift()?.();
      });
    }
    this.live.held(this.held.size);
  }

  private lateness(held: Held): Lateness {
    const meta = held.meta!;
    return lateness({
      now: Date.now(),
      ingestTime: meta.ingestTime,
      budgetMs: latencyBudgetMs(held.chain, meta.duration),
      expectedMs: this.estimate.ms,
      attempt: held.msg.info.deliveryCount,
    });
  }

  /** Work that takes no slot but must finish before the runner closes. */
  private side(work: Promise<void>): Promise<void> {
    const tracked = work.catch((e: unknown) => this.logger.error(`service=${this.service} ${describeError(e)}`));
    this.sideWork.add(tracked);
    void tracked.finally(() => this.sideWork.delete(tracked));
    return tracked;
  }

  /**
   * Gives a late segment up before any work: tells delivery the seq will not come (a gap marker on
   * the output subject, with the id the real output would have had), acks it, and counts it into
   * the stream's current drop run. When the marker is a duplicate, the real output is already
   * out (a redelivery after a crash between publish and ack): nothing was lost, nothing is reported.
   */
  private async dropLate(held: Held): Promise<void> {
    const { msg, chain } = held;
    const meta = held.meta!;
    const where = `service=${this.service} streamId=${meta.streamId} seq=${meta.seq} hop=${meta.hop} rendition=${meta.rendition}`;
    if (!chain) {
      // The stream stopped: nobody waits for the seq, as handle() would find too.
      this.logger.debug(`${where} late and the stream has no chain (stopped): segment dropped`);
      msg.ack();
      await releaseSegmentBlob(this.bus, meta);
      return;
    }
    let lost: boolean;
    try {
      lost = await this.publishGap(meta, chain);
    } catch (e) {
      // Without the marker the segment would vanish unannounced: let it come back and try again.
      this.logger.warn(`${where} late, but the gap marker was not stored (${describeError(e)}): handed back`);
      msg.nak(retryDelayMs(1));
      return;
    }
    msg.ack();
    await releaseSegmentBlob(this.bus, meta);
    if (!lost) return;
    this.live.droppedLate();
    this.logger.debug(`${where} dropped: ${Date.now() - meta.ingestTime} ms after its cut, past the ${latencyBudgetMs(chain, meta.duration)} ms budget`);
    await this.reportDrops(this.drops.add(meta.streamId, meta.hop, meta.seq, Date.now()));
  }

  /** Publishes "seq N will not come" where the stream's outputs go; false when it was a duplicate. */
  private async publishGap(meta: SegmentMeta, chain: ChainSpec): Promise<boolean> {
    const out: SegmentMeta = { ...meta, hop: chain.hops.length - 1, chainVersion: chain.version, blob: undefined, transfer: undefined, gap: 'late' };
    const msgId = segmentMsgId(out, 'out');
    const ack = await this.bus.publish(subjects.output(meta.streamId, meta.rendition), new Uint8Array(0), { msgId, headers: encodeSegmentHeaders(out, msgId) });
    return !ack.duplicate;
  }

  /** One `segments-dropped` event per run of drops of a stream. */
  private async reportDrops(runs: DropRun[]): Promise<void> {
    for (const run of runs) {
      const seqs = run.from === run.to ? `seq ${run.from}` : `seqs ${run.from}-${run.to}`;
      const message = `${run.count} segment(s) (${seqs}) dropped at ${this.service}: they could no longer make the stream's latency budget`;
      this.logger.warn(`service=${this.service} streamId=${run.streamId} ${message}`);
      const data: SegmentsDroppedData = { reason: 'late', from: run.from, to: run.to, count: run.count };
      try {
        await publishStreamEvent(this.bus, { streamId: run.streamId, kind: 'segments-dropped', message, service: this.service, hop: run.hop, seq: run.from, data: { ...data } });
      } catch (e) {
        this.logger.error(`service=${this.service} streamId=${run.streamId} segments-dropped event not published: ${describeError(e)}`);
      }
    }
  }

  /** Every ackWait/3: in-progress acks for held segments, drops for those that became late, due drop reports. */
  private keepHeld(): void {
    if (this.stopping) return;
    for (const held of this.held.removeWhere((h) => h.meta !== undefined && this.lateness(h).late)) void this.side(this.dropLate(held));
    this.held.forEach((h) => h.msg.working());
    this.live.held(this.held.size);
    this.roomWaiters.shift()?.();
    const due = this.drops.due(Date.now());
    if (due.length) void this.side(this.reportDrops(due));
  }

  /** Runs one segment; `admitted`: its headers as admit() decoded them, when they were valid. */
  private async handle(msg: ConsumedMsg, admitted?: SegmentMeta): Promise<void> {
    const started = performance.now();
    const route = parseSegmentSubject(msg.subject);
    if (!route || route.service !== this.service) {
      return this.rejectBadSegment(msg, streamIdFromHeaders(msg.headers), undefined, `subject ${msg.subject} is not lm.seg.${this.service}.<streamId>.<hop>`);
    }
    let segment: Segment;
    try {
      segment = await readSegment(this.bus, msg, admitted);
    } catch (e) {
      if (e instanceof BadSegmentError) return this.rejectBadSegment(msg, route.streamId, route.hop, e.message);
      // The object store was unreachable: worth another attempt.
      return this.fail(msg, route, undefined, e);
    }
    const { meta } = segment;
    if (meta.streamId !== route.streamId || meta.hop !== route.hop) {
      return this.rejectBadSegment(msg, route.streamId, route.hop, `headers say stream ${meta.streamId} hop ${meta.hop} but the subject is ${msg.subject}`);
    }
    if (meta.gap) return this.rejectBadSegment(msg, route.streamId, route.hop, `a gap marker (${SEGMENT_HEADERS.gap}) belongs on the output subjects, not on ${msg.subject}`);
    this.live.started(Math.max(0, Date.now() - meta.ingestTime));

    const where = `service=${this.service} streamId=${meta.streamId} seq=${meta.seq} hop=${meta.hop} rendition=${meta.rendition}`;
    const abort = new AbortController();
    this.aborts.add(abort);
    // Tell JetStream the segment is being worked on well before ackWait runs out.
    const keepAlive = setInterval(() => msg.working(), Math.max(250, Math.floor(this.ackWaitMs / 3)));
    // The segment's deadline: the abort kills its engine request or ffmpeg run, and the race below
    // frees the slot even from a process() that ignores the signal and never returns.
    const deadline = setTimeout(
      () => abort.abort(new StageTimeoutError(`${this.service} worked on ${meta.streamId}#${meta.seq} for more than STAGE_TIMEOUT_MS (${this.stageTimeoutMs} ms): aborted`)),
      this.stageTimeoutMs,
    );
    const aborted = new Promise<never>((_, reject) => abort.signal.addEventListener('abort', () => reject(abort.signal.reason), { once: true }));
    aborted.catch(() => undefined);
    let dir: string | undefined;
    let probed: Promise<SegmentProbe> | undefined;
    // The stages this hop runs; until the chain is read, only this worker's own (for metrics).
    let members: HopMember[] = [];
    try {
      const chain = await this.chains.get(meta.streamId, meta.chainVersion);
      if (!chain) {
        this.logger.log(`${where} stream has no chain (stopped): segment dropped`);
        msg.ack();
        await releaseSegmentBlob(this.bus, meta);
        return;
      }
      // Only the service the chain spec names at this hop works on it: a segment published to
      // our subject for a hop that is someone else's (or none) is refused, never processed.
      const named = chain.hops?.[route.hop]?.service;
      if (named !== this.service) {
        return await this.rejectBadSegment(msg, route.streamId, route.hop, `chain v${chain.version} of stream ${meta.streamId} runs ${named ?? 'nothing'} at hop ${route.hop}, not ${this.service}: segment refused`);
      }
      const hop = hopFor(chain, this.service, route.hop);
      members = fusedMembers(chain, hop, this.def, this.opts.peers);
      const scopes = members.map(({ hop: h, def }) => {
        const checked = validateParams(def.params, h.params, `hops[${h.index}].params`);
        if (checked.problems.length) throw new ValidationFailedError(`parameters of ${def.name} for stream ${meta.streamId} are invalid`, checked.problems);
        return checked.params;
      });
      for (const m of members) checkTransferIn(m.def, meta.transfer);

      // The cheap checks (whole packets, streams, picture size from the SPS, media time) in-process;
      // a segment that still cannot be decoded fails in the engine as an input error, at once.
      let media = EMPTY_MEDIA;
      if (this.def.inspect !== false) {
        media = inspectTs(segment.data);
        // A picture whose size the in-process reader cannot tell (not H.264 or HEVC: never
        // livemesh's own output) gets the full ffprobe check before any decoder sees it.
        if (media.video && (media.video.width === undefined || media.video.height === undefined)) {
          checkSegmentProbe(await (probed ??= probeSegment(segment.data, { timeoutMs: this.env.MEDIA_TIMEOUT_MS, ffprobePath: this.env.FFPROBE_PATH, signal: abort.signal })), meta);
        }
        checkInspection(media, meta);
      }

      const stageLog = this.stageLog(where);
      const carry = new SegmentCarryAccess(this.carries, meta, abort.signal, stageLog);
      const workDir = async (): Promise<string> => (dir ??= await mkdtemp(join(tmpdir(), `livemesh-${this.service}-`)));
      const scope = (params: Record<string, unknown>, own: boolean, service: string): SegmentScope => ({
        segment: { meta, data: segment.data },
        params,
        transfer: meta.transfer ?? {},
        media,
        config: own ? this.config : {},
        log: stageLog,
        workDir,
        state: this.stateOf(meta.streamId, service),
      });
      const transform = (t: SegmentTransform, input?: Uint8Array): Promise<Uint8Array> => {
        this.logger.debug(`${where} transform ${JSON.stringify(t)} on the ${this.engine.kind} engine`);
        return this.engine.transform(input ?? segment.data, t, { timeoutMs: this.env.MEDIA_TIMEOUT_MS, signal: abort.signal, onProgress: () => msg.working() });
      };
      let result: StageResult;
      if (members.length === 1) {
        const ctx: StageContext = {
          ...scope(scopes[0]!, true, this.service),
          startParams: this.startParams,
          signal: abort.signal,
          handOff: hop.handOff ?? 'final',
          transform,
          ffmpeg: async (args, input, options) => {
            this.logger.debug(`${where} ffmpeg ${args.join(' ')}`);
            const { stdout } = await runFfmpeg(args, {
              input: input ?? segment.data,
              timeoutMs: this.env.MEDIA_TIMEOUT_MS,
              ffmpegPath: this.env.FFMPEG_PATH,
              signal: abort.signal,
              onProgress: () => msg.working(),
              expectOutput: options?.expectOutput ?? true,
            });
            return stdout;
          },
          probe: () =>
            (probed ??= probeSegment(segment.data, { timeoutMs: this.env.MEDIA_TIMEOUT_MS, ffprobePath: this.env.FFPROBE_PATH, signal: abort.signal })),
          report: async (kind, data, message) => {
            if (!(REPORT_KINDS as readonly string[]).includes(kind)) throw new ValidationFailedError(`${this.service} cannot report "${String(kind)}"`, [`kind: must be one of ${REPORT_KINDS.join(', ')}`]);
            // report() types data by kind for the stage's author; the pair is not correlated here.
            await publishStreamEvent(this.bus, { streamId: meta.streamId, kind, message, service: this.service, seq: meta.seq, hop: meta.hop, data } as NewStreamEvent<ReportKind>);
          },
          blobs: {
            put: async (name, data) => {
              await this.bus.putBlob(name, data);
              return name;
            },
            get: (name) => this.bus.getBlob(name),
          },
          carry,
        };
        result = await Promise.race([this.def.process(ctx), aborted]);
      } else {
        // A fused hop: every stage's filter in chain order, one decode and one encode (the last's,
        // or the mezzanine when the hop it publishes to re-encodes).
        const steps: VideoStep[] = [];
        for (const [i, m] of members.entries()) {
          const step = await m.def.video?.(scope(scopes[i]!, i === 0, m.def.name));
          if (!step) throw new ValidationFailedError(`chain v${chain.version} of stream ${meta.streamId} fuses hop ${m.hop.index} (${m.def.name}), which cannot run as a filter with its parameters`, [`hops[${m.hop.index}]: run it unfused (fuse: false)`]);
          steps.push(step);
        }
        result = await Promise.race([runVideoStep({ transform, transfer: meta.transfer ?? {}, handOff: hop.handOff ?? 'final' }, composeSteps(steps)), aborted]);
      }
      checkTransferOut(members.map((m) => m.def), meta.transfer, result);
      const plans = planPublishes(meta, chain, hop, result);
      for (const p of plans) {
        await publishSegment(this.bus, p.subject, p.segment, { inlineLimit: this.env.INLINE_LIMIT_BYTES, kind: p.kind });
      }
      await carry.commit();
      // Ack only once every output is stored; a lost ack means a redelivery, deduplicated downstream.
      const acked = await msg.ackAck().catch((e: unknown) => {
        this.logger.warn(`${where} ack not confirmed (${describeError(e)}): the segment may be redelivered`);
        return false;
      });
      if (acked) await releaseSegmentBlob(this.bus, meta);
      this.processed++;
      this.estimate.observe(performance.now() - started);
      for (const m of members) this.metrics.succeeded((performance.now() - started) / 1000, m.def.name);
      this.logger.debug(`${where} done in ${Math.round(performance.now() - started)} ms -> ${plans.map((p) => p.subject).join(', ')}`);
    } catch (e) {
      await this.fail(msg, route, meta, e, abort.signal);
    } finally {
      clearInterval(keepAlive);
      clearTimeout(deadline);
      this.aborts.delete(abort);
      if (dir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private async fail(msg: ConsumedMsg, route: { streamId: string; hop: number }, meta: SegmentMeta | undefined, error: unknown, signal?: AbortSignal): Promise<void> {
    const where = `service=${this.service} streamId=${route.streamId} seq=${meta?.seq ?? '?'} hop=${route.hop}`;
    if (this.stopping && signal?.aborted) {
      this.logger.warn(`${where} interrupted by shutdown: handed back for another replica`);
      this.count('drained');
      msg.nak();
      return;
    }
    const attempt = msg.info.deliveryCount;
    const decision = decideFailure(error, attempt, this.maxAttempts);
    const message = describeError(error);
    if (decision.action === 'retry') {
      this.logger.warn(`${where} attempt ${attempt}/${this.maxAttempts} failed, retrying in ${decision.delayMs} ms: ${message}`);
      this.count('retry');
      msg.nak(decision.delayMs);
      return;
    }
    this.logger.error(`${where} dead-lettered after attempt ${attempt}/${this.maxAttempts} (${decision.reason}): ${message}`);
    this.count('dead-letter');
    try {
      await this.publishDeadLetter(msg, route.streamId, message);
      await publishStreamEvent(this.bus, {
        streamId: route.streamId,
        kind: 'dead-letter',
        message,
        service: this.service,
        seq: meta?.seq,
        hop: route.hop,
        data: { code: errorCode(error), attempts: attempt, reason: decision.reason },
      });
      // No reason argument: servers before 2.11 (Debian ships 2.9) ignore `+TERM <reason>` and redeliver.
      msg.term();
    } catch (e) {
      // Without its dead letter the segment would vanish silently: let it come back instead.
      this.logger.error(`${where} could not dead-letter (${describeError(e)}): handed back`);
      msg.nak(retryDelayMs(attempt));
    }
  }

  /** A message that is not a segment of ours: never retried, kept in the dead-letter subject when it names a stream. */
  private async rejectBadSegment(msg: ConsumedMsg, streamId: string | undefined, hop: number | undefined, reason: string): Promise<void> {
    this.count('bad-segment');
    this.logger.warn(`service=${this.service} streamId=${streamId ?? '?'} bad segment on ${msg.subject}: ${reason}`);
    if (streamId) {
      try {
        await this.publishDeadLetter(msg, streamId, reason);
        await publishStreamEvent(this.bus, { streamId, kind: 'segment-failed', message: reason, service: this.service, hop, data: { code: 'LM_BAD_SEGMENT', attempts: msg.info.deliveryCount } });
      } catch (e) {
        this.logger.error(`service=${this.service} streamId=${streamId} could not report a bad segment: ${describeError(e)}`);
      }
    }
    msg.term();
  }

  /** The input as it came (headers, payload or claim check) plus why it was given up. */
  private async publishDeadLetter(msg: ConsumedMsg, streamId: string, reason: string): Promise<void> {
    await this.bus.publishDeadLetter(this.service, streamId, msg, headerSafe(reason));
  }

  private count(outcome: FailureOutcome): void {
    this.failed++;
    this.metrics.failedWith(outcome);
  }

  private stateOf(streamId: string, service: string): Map<string, unknown> {
    let stages = this.streamState.get(streamId);
    if (!stages) this.streamState.set(streamId, (stages = new Map()));
    let s = stages.get(service);
    if (!s) stages.set(service, (s = new Map()));
    return s;
  }


  private stageLog(where: string): StageLog {
    return {
      log: (m) => this.logger.log(`${where} ${m}`),
      warn: (m) => this.logger.warn(`${where} ${m}`),
      error: (m) => this.logger.error(`${where} ${m}`),
      debug: (m) => this.logger.debug(`${where} ${m}`),
    };
  }

  private async drainAndClose(): Promise<void> {
    this.stopping = true;
    this.logger.log(`service=${this.service} worker=${this.workerId} draining ${this.inFlight.size} in-flight segment(s)`);
    clearInterval(this.housekeeping);
    this.messages?.stop();
    for (const wake of this.roomWaiters.splice(0)) wake();
    // Held segments were never started: hand them back at once.
    for (const held of this.held.drain()) held.msg.nak();
    this.live.held(0);
    if (this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.drainTimeoutMs)));
      const outcome = await Promise.race([Promise.all([...this.inFlight]).then(() => 'done' as const), timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        this.logger.warn(`service=${this.service} drain time (${this.drainTimeoutMs} ms) is up: handing back ${this.inFlight.size} segment(s)`);
        for (const a of this.aborts) a.abort(new Error('worker shutting down'));
        await Promise.all([...this.inFlight]);
      }
    }
    await this.loopDone;
    // A segment admitted while the drain began was held after the first hand-back.
    for (const held of this.held.drain()) held.msg.nak();
    await Promise.all([...this.sideWork]);
    await this.reportDrops(this.drops.due(Date.now(), true));
    await this.release();
    this.logger.log(`service=${this.service} worker=${this.workerId} stopped (${this.processed} processed, ${this.failed} failed)`);
    if (this.fatal) this.rejectDone(this.fatal);
    else this.resolveDone();
  }

  private async release(): Promise<void> {
    this.chains?.stop();
    await this.engine?.close();
    await this.heartbeat?.stop();
    await this.metrics.close();
    if (this.ownsBus) await this.bus.close();
  }

  private installSignalHandlers(): void {
    const onSignal = (sig: NodeJS.Signals): void => {
      if (this.stopping) {
        this.logger.warn(`service=${this.service} ${sig} again: exiting now`);
        process.exit(130);
      }
      this.logger.log(`service=${this.service} ${sig}: draining (send it again to exit at once)`);
      void this.stop().finally(() => {
        // Everything is closed; should a stray handle keep the loop alive, do not hang the shutdown.
        setTimeout(() => process.exit(process.exitCode ?? 0), 2_000).unref();
      });
    };
    // Never removed: a second signal while closing must still exit at once.
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
}

/** What a stage that opted out of inspection sees as `media`. */
const EMPTY_MEDIA: TsInspection = Object.freeze({}) as TsInspection;

/**
 * The steps of a fused hop as one: the filters joined in chain order, the last stage's encode
 * (what the unfused chain would have delivered), the last rendition named and every transfer
 * laid over the one before.
 */
export function composeSteps(steps: readonly VideoStep[]): VideoStep {
  const last = steps[steps.length - 1]!;
  const rendition = steps.reduce<string | undefined>((r, s) => s.rendition ?? r, undefined);
  const transfer = steps.reduce<Record<string, unknown> | undefined>((t, s) => (s.transfer ? { ...t, ...s.transfer } : t), undefined);
  return {
    filter: steps.map((s) => s.filter).filter(Boolean).join(','),
    encode: last.encode,
    ...(rendition ? { rendition } : {}),
    ...(transfer ? { transfer } : {}),
  };
}

function streamIdFromHeaders(h: BusHeaders | undefined): string | undefined {
  const id = h?.get(SEGMENT_HEADERS.streamId);
  return isToken(id) ? id : undefined;
}
