import { ConflictException, Inject, Injectable, Logger } from '@nestjs/common';
import { Bus, JsonStore, publishStreamEvent, type JsonEntry } from '@livemesh/bus';
import {
  BUCKETS,
  ChainPlanError,
  NotFoundError,
  STREAMS,
  assertToken,
  type ChainSpec,
  statusKey,
  type ChangeChainRequest,
  type DeliveryStatus,
  type IngestStatus,
  type StartStreamRequest,
  type NewStreamEvent,
  type StreamEventData,
  type StreamEventKind,
  type StreamRecord,
  type StreamView,
  type StreamKeyEntry,
  type IssuedStreamKey,
  type RotateKeyRequest,
  KEY_HASH_PATTERN,
  SRT_PASSPHRASE,
  WeakStreamKeyError,
  generateStreamKey,
  hashStreamKey,
  loadIngestSecret,
  sealSecret,
  srtPassphraseAad,
  streamKeyProblems,
  subjects,
  type PlaybackUrlRequest,
  ValidationFailedError,
  ENV,
  type OrchestratorSettings,
} from '@livemesh/contracts';
import { checkOutboundAddresses, checkPushUrl, checkSourceUrl, parseAddressRanges } from '@livemesh/media';
import type { ContainerRuntime } from '@livemesh/runtime';
import { CatalogueService } from '../catalogue/catalogue.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { buildChainSpec, planChain, type CatalogueSnapshot, type ChainPlan, type PlanRequest } from '../planner/chain.planner.js';
import { CONTAINER_RUNTIME } from '../runtime/runtime.tokens.js';
import { purgeStreamSegments } from './stream.purge.js';
import { StreamQuotas } from './stream.quotas.js';
import { StreamTable } from './stream.table.js';
import { playbackUrl, rtmpPublishUrl, signedPlayback, toStreamView, type DataPlaneStatus } from './stream.view.js';
import { PlaybackSigner, playbackPolicy } from './playback.signer.js';

export type StartOrigin = 'http' | 'platform';

/**
 * The key a caller chose, checked (422 LM_WEAK_STREAM_KEY, the key never echoed), or a fresh one.
 * `generated` says whether livemesh made it (and so must hand it out).
 */
export function chooseKey(given: string | undefined): { key: string; generated: boolean } {
  if (given === undefined) return { key: generateStreamKey(), generated: true };
  const problems = streamKeyProblems(given);
  if (problems.length) throw new WeakStreamKeyError('publish.key is too weak', problems);
  return { key: given, generated: false };
}

/** A start left in 'starting' this long was interrupted (the orchestrator died mid-start) and may be taken over. */
const STALE_START_MS = 120_000;
const DRAIN_POLL_MS = 200;


/** Why a stream ends: a stop (API, platform event) or its publisher gone for STREAM_IDLE_TIMEOUT_S. */
export type Ending = { reason: 'stopped' } | { reason: 'idle'; idleSeconds: number; lastActivityAt: string };

/**
 * Stream lifecycle. Every decision is written to KV before it is announced, so a restarted
 * orchestrator (or a second one) continues from the buckets; compare-and-set on the stream
 * record makes sure two concurrent starts or stops of one id cannot both win.
 */
@Injectable()
export class StreamsService {
  private readonly logger = new Logger(StreamsService.name);
  private readonly records: JsonStore<StreamRecord>;
  private readonly chains: JsonStore<ChainSpec>;
  private readonly keys: JsonStore<StreamKeyEntry>;
  private readonly status: JsonStore<IngestStatus | DeliveryStatus>;
  private ingestSecret?: Promise<Buffer | undefined>;

  constructor(
    @Inject(Bus) private readonly bus: Bus,
    @Inject(ENV) private readonly env: OrchestratorSettings,
    @Inject(CatalogueService) private readonly catalogue: CatalogueService,
    @Inject(CONTAINER_RUNTIME) private readonly runtime: ContainerRuntime,
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(StreamTable) private readonly table: StreamTable,
    @Inject(StreamQuotas) private readonly quotas: StreamQuotas,
    @Inject(PlaybackSigner) private readonly signer: PlaybackSigner,
  ) {
    this.records = bus.store(BUCKETS.streams);
    this.chains = bus.store(BUCKETS.chains);
    this.keys = bus.store(BUCKETS.keys);
    this.status = bus.store(BUCKETS.status);
  }

  /**
   * Starts a stream, or returns the running one (`created: false`) when the id is already live.
   * Over a quota it throws QuotaExceededError (429) before anything is written or announced.
   */
  async start(request: StartStreamRequest, origin: StartOrigin): Promise<{ view: StreamView; created: boolean }> {
    const id = assertToken('stream id', request.id);
    // A weak platform key (WeakStreamKeyError -> 422) is refused before anything is read or written.
    const chosen = chooseKey(request.publish?.key);
    // Refused URLs (SourceUrlError -> 422) are caught before anything is written or announced.
    if (request.source) checkSourceUrl(request.source.url);
    for (const target of request.outputs?.rtmp ?? []) checkPushUrl(target);
    // First, before any bucket read: a flood of starts over the limit costs nothing but the answer.
    const release = this.quotas.admit(id, request);
    try {
      await this.checkOutbound(request);
      return await this.startAdmitted(id, request, origin, chosen);
    } finally {
      // The record (if any) is in the table by now, so the slot stays counted.
      release();
    }
  }

  /**
   * Where the pull and the pushes would connect, after DNS (PrivateAddressError -> 422): ingest and
   * delivery check again when they connect, this answers the caller before anything is written.
   */
  private async checkOutbound(request: StartStreamRequest): Promise<void> {
    if (!request.source && !request.outputs?.rtmp?.length) return;
    const allow = parseAddressRanges(this.env.LIVEMESH_ALLOW_PRIVATE_SOURCES);
    if (request.source) await checkOutboundAddresses('source URL', request.source.url, allow);
    for (const target of request.outputs?.rtmp ?? []) await checkOutboundAddresses('RTMP output URL', target, allow);
  }

  private async startAdmitted(
    id: string,
    request: StartStreamRequest,
    origin: StartOrigin,
    chosen: { key: string; generated: boolean },
  ): Promise<{ view: StreamView; created: boolean }> {
    const snapshot = await this.catalogue.snapshot();
    const plan = this.plan(request, snapshot, origin);
    this.quotas.checkRenditions(plan.stages);

    const existing = await this.records.get(id);
    if (existing && !this.mayStartOver(existing.value)) {
      if (existing.value.state === 'stopping') throw new ConflictException(`stream ${id} is stopping; start it again once it has ended`);
      // The running stream, without its key: the key was handed out once, when it was created.
      return { view: await this.viewOf(existing.value), created: false };
    }

    const now = new Date().toISOString();
    // Only the key's hash is kept; the stored request loses `publish.key`.
    const { publish: _publish, ...stored } = request;
    const keyHash = hashStreamKey(chosen.key);
    const record: StreamRecord = {
      id,
      state: 'starting',
      keyHash,
      ...(await this.srtPassphrase(id, keyHash, chosen.key, request)),
      request: stored as StartStreamRequest,
      // A restarted id continues the version sequence, so no segment of the last run matches the new chain.
      chainVersion: (existing?.value.chainVersion ?? 0) + 1,
      createdAt: now,
      updatedAt: now,
      errors: [],
    };
    const revision = existing ? await this.records.update(id, record, existing.revision) : await this.records.create(id, record);
    if (revision === undefined) {
      const winner = await this.records.get(id);
      this.logger.log(`streamId=${id} another start won the race; answering with its stream`);
      if (winner) return { view: await this.viewOf(winner.value), created: false };
      throw new ConflictException(`stream ${id} changed while starting; retry`);
    }
    this.table.apply(id, record, revision);
    this.logger.log(`streamId=${id} starting from ${origin}, chain ${plan.source}: ${plan.stages.map((s) => s.service).join(' -> ')}`);
    await this.event(id, 'starting', `chain ${plan.source}`);

    let current: JsonEntry<StreamRecord> = { key: id, value: record, revision };
    try {
      await this.ensureServices(id, plan, snapshot);
      const chain = buildChainSpec(id, record.chainVersion, plan.stages, plan.fused, new Date(), { latencyBudgetMs: plan.latencyBudgetMs });
      await this.chains.put(id, chain);
      await this.keys.put(keyHash, { streamId: id });
      // A platform that started the stream by event reads a key livemesh made on LM_KEYS.
      if (origin === 'platform' && chosen.generated) await this.issueKey(id, chosen.key);
      // A stop that came in meanwhile wins: the stream must not come back to life.
      current = await this.save(current, { state: 'live' }, 'starting');
      this.metrics.chainStarts.inc({ source: origin });
      await this.event(id, 'chain-ready', `chain version ${chain.version} ready`, { version: chain.version, hops: chain.hops });
      this.logger.log(`streamId=${id} live, chain version ${chain.version}`);
      return { view: await this.view(current.value, chain, {}, chosen.key), created: true };
    } catch (e) {
      const message = (e as Error).message;
      this.logger.error(`streamId=${id} start failed: ${message}`, (e as Error).stack);
      await this.keys.delete(keyHash).catch(() => undefined);
      await this.chains.delete(id).catch(() => undefined);
      await this.save(current, { state: 'failed', errors: [...current.value.errors, { at: new Date().toISOString(), message }] }).catch(() => undefined);
      await this.event(id, 'failed', message).catch(() => undefined);
      throw e;
    }
  }

  async list(): Promise<StreamView[]> {
    return (await this.listWithRecords()).map((s) => s.view);
  }

  /** Every stream's view with the record it was made from (the console's list reads the start request and creation time). */
  async listWithRecords(): Promise<{ view: StreamView; record: StreamRecord }[]> {
    const [records, chains] = await Promise.all([this.records.list(), this.chains.list()]);
    const byId = new Map(chains.map((c) => [c.key, c.value]));
    return Promise.all(records.map(async (r) => ({ view: await this.view(r.value, byId.get(r.key), await this.dataPlane(r.key)), record: r.value })));
  }

  async get(id: string): Promise<StreamView> {
    return this.viewOf((await this.require(id)).value);
  }

  /**
   * Stops a stream: the key goes first (ingest refuses new publishes), then in-flight segments
   * get a bounded time to leave the chain, what is still queued is purged, and 'ended' lets
   * delivery close the playlist. Calling it again on a stream stuck in 'stopping' finishes the job.
   */
  async stop(id: string, ending: Ending = { reason: 'stopped' }): Promise<StreamView> {
    return this.finish(await this.require(id), ending);
  }

  /**
   * Ends a live stream whose publisher is gone, if its record is still at `revision` (anything
   * that changed it meanwhile, such as a stop or a restart of the id, wins). Its queued segments
   * are stale by now, so they are purged at once instead of drained. False when it did not end it.
   */
  async endIdle(id: string, revision: number, lastActivity: number): Promise<boolean> {
    const entry = await this.records.get(id);
    if (!entry || entry.revision !== revision || entry.value.state !== 'live') return false;
    const idleSeconds = Math.round((Date.now() - lastActivity) / 1000);
    this.logger.log(`streamId=${id} no segment from a publisher for ${idleSeconds}s (STREAM_IDLE_TIMEOUT_S=${this.env.STREAM_IDLE_TIMEOUT_S}); ending it`);
    const ended = await this.finish(entry, { reason: 'idle', idleSeconds, lastActivityAt: new Date(lastActivity).toISOString() }, true);
    return ended.state === 'ended';
  }

  /** Stopping -> drain (a stop only) -> purge -> 'ended'. `giveWay`: a lost compare-and-set ends nothing. */
  private async finish(start: JsonEntry<StreamRecord>, ending: Ending, giveWay = false): Promise<StreamView> {
    const id = start.key;
    let entry = start;
    if (entry.value.state === 'ended') return this.viewOf(entry.value);
    if (entry.value.state !== 'stopping') {
      const value: StreamRecord = { ...entry.value, state: 'stopping', updatedAt: new Date().toISOString() };
      const saved = await this.records.update(id, value, entry.revision);
      if (saved === undefined) {
        // An idle end gives way to whatever changed the record; a stop tries again on the new one.
        if (giveWay) return this.viewOf(entry.value);
        return this.stop(id, ending);
      }
      this.table.apply(id, value, saved);
      entry = { ...entry, value, revision: saved };
      this.logger.log(`streamId=${id} stopping`);
      await this.event(id, 'stopping', ending.reason === 'idle' ? `stream is stopping: no publisher for ${ending.idleSeconds}s` : 'stream is stopping');
    }
    const keyName = storedKeyName(entry.value);
    if (keyName) await this.keys.delete(keyName);
    const chain = (await this.chains.get(id))?.value;
    if (chain && ending.reason === 'stopped') await this.drain(id, chain);
    // What did not drain (or, idle, all of it) would otherwise sit ahead of other streams' fresh
    // segments in each service's first-in-first-out queue.
    const purged = await purgeStreamSegments(this.bus, id).catch((e: Error) => {
      this.logger.warn(`streamId=${id} queued segments not purged: ${e.message}`);
      return 0;
    });
    if (purged > 0) this.logger.log(`streamId=${id} purged ${purged} queued segment(s) from LM_SEG`);
    const message = ending.reason === 'idle' ? `stream ended: idle, no segment from a publisher for ${ending.idleSeconds}s` : 'stream ended';
    await this.event(id, 'ended', message, { ...ending, purgedSegments: purged });
    await this.chains.delete(id);
    entry = await this.save(entry, { state: 'ended' });
    this.logger.log(`streamId=${id} ended`);
    if (chain) await this.releaseUnused(id, chain.hops.map((h) => h.service));
    return this.view(entry.value, undefined);
  }

  /**
   * Gives a starting or live stream a new publish key (the platform's, checked, or a generated one)
   * and answers it once. The old key stops at once: ingest refuses it from the moment the record
   * changes and closes a publish that used it when its `lm_keys` entry goes.
   */
  async rotateKey(id: string, request: RotateKeyRequest = {}): Promise<StreamView> {
    const chosen = chooseKey(request.key);
    const entry = await this.require(id);
    const state = entry.value.state;
    if (state !== 'live' && state !== 'starting') throw new ConflictException(`stream ${id} is ${state}; only a starting or live stream's key can be rotated`);
    const oldName = storedKeyName(entry.value);
    const keyHash = hashStreamKey(chosen.key);
    await this.keys.put(keyHash, { streamId: id });
    let saved: JsonEntry<StreamRecord>;
    try {
      const { key: _legacy, srtPassphrase: _old, ...rest } = entry.value;
      const change = { ...rest, keyHash, ...(await this.srtPassphrase(id, keyHash, chosen.key, entry.value.request)) };
      saved = await this.saveWhole(entry, change, state);
    } catch (e) {
      await this.keys.delete(keyHash).catch(() => undefined);
      throw e;
    }
    if (oldName && oldName !== keyHash) await this.keys.delete(oldName);
    this.logger.log(`streamId=${id} publish key rotated`);
    // No SRT URL in this answer: ingest restarts the stream's listener with the new passphrase,
    // on a port GET /api/streams/:id shows once it is up; the one known now may be gone.
    const { ingest: _restarting, ...dataPlane } = await this.dataPlane(id);
    return this.view(saved.value, (await this.chains.get(id))?.value, dataPlane, chosen.key);
  }

  /**
   * Rewrites records written before keys were hashed (a plaintext `key`): the record keeps the
   * hash, `lm_keys` is re-keyed by it, and the older revisions that held the plaintext are dropped
   * from both buckets' history. Runs at boot; returns how many records it rewrote.
   */
  async migrateKeys(): Promise<number> {
    let migrated = 0;
    const current = await this.records.list();
    for (const r of current) {
      const legacy = r.value.key;
      if (typeof legacy !== 'string' || legacy === '') continue;
      const keyHash = hashStreamKey(legacy);
      const { key: _plain, ...rest } = r.value;
      const live = r.value.state === 'live' || r.value.state === 'starting';
      if (live) await this.keys.put(keyHash, { streamId: r.key });
      const change = { ...rest, keyHash, ...(live ? await this.srtPassphrase(r.key, keyHash, legacy, r.value.request) : {}) };
      await this.saveWhole(r, change);
      await this.records.dropHistory(r.key);
      migrated++;
    }
    // A deleted (expired) record whose history still holds a plaintext key: erased.
    const kept = new Set(current.map((r) => r.key));
    for (const id of await this.records.keysInHistory()) {
      if (!kept.has(id) && (await this.records.history(id)).some((e) => typeof e.value.key === 'string')) await this.records.erase(id);
    }
    // Entries named by a plaintext key (not a 64-hex hash), live or deleted: gone without a trace,
    // since even a delete marker's subject would name the key.
    for (const name of await this.keys.keysInHistory()) {
      if (!KEY_HASH_PATTERN.test(name)) await this.keys.erase(name);
    }
    if (migrated) this.logger.log(`${migrated} stream record(s) written before keys were hashed now keep the key's hash only`);
    return migrated;
  }

  /** With SRT on: the ingest secret exists from boot, so ingest finds it when the first published stream needs a listener. */
  async prepareIngestSecret(): Promise<void> {
    if (this.env.SRT_PORT_RANGE) await this.ensureIngestSecret();
  }

  /** The ingest secret, created on first use (`<LIVEMESH_DATA_DIR>/ingest.secret`) unless LIVEMESH_INGEST_SECRET is set. */
  ensureIngestSecret(): Promise<Buffer | undefined> {
    this.ingestSecret ??= loadIngestSecret(this.env, true).catch((e: unknown) => {
      // Not remembered: the next start tries again (a data dir that was not writable yet).
      this.ingestSecret = undefined;
      throw e;
    });
    return this.ingestSecret;
  }

  /** The key sealed for ingest's SRT listener: only for a published stream while SRT is on. */
  private async srtPassphrase(id: string, keyHash: string, key: string, request: StartStreamRequest): Promise<Pick<StreamRecord, 'srtPassphrase'>> {
    if (!this.env.SRT_PORT_RANGE || request.source || !SRT_PASSPHRASE.test(key)) return {};
    // Without the secret the stream still starts, published over RTMP only.
    const secret = await this.ensureIngestSecret().catch((e: Error) => {
      this.logger.error(`streamId=${id} no ingest secret (${e.message}); SRT publishing is off for it`);
      return undefined;
    });
    return secret ? { srtPassphrase: sealSecret(secret, key, srtPassphraseAad(id, keyHash)) } : {};
  }

  /** Hands a generated key to the platform that started the stream by event (LM_KEYS, minutes). */
  private async issueKey(id: string, key: string): Promise<void> {
    const body: IssuedStreamKey = { streamId: id, key, rtmp: rtmpPublishUrl(this.env, key), issuedAt: new Date().toISOString() };
    await this.bus.publish(subjects.keyIssued(id), JSON.stringify(body));
  }

  /** Replaces the chain of a live stream with a new version; workers and ingest watch the spec and route the next segment by it. */
  async changeChain(id: string, request: ChangeChainRequest): Promise<StreamView> {
    const entry = await this.require(id);
    if (entry.value.state !== 'live') throw new ConflictException(`stream ${id} is ${entry.value.state}; only a live stream's chain can change`);
    const snapshot = await this.catalogue.snapshot();
    const plan = this.plan({ id, stages: request.stages, fuse: request.fuse }, snapshot, 'change');
    this.quotas.checkRenditions(plan.stages);
    await this.ensureServices(id, plan, snapshot);

    const current = await this.chains.get(id);
    const version = Math.max(current?.value.version ?? 0, entry.value.chainVersion) + 1;
    // A change of stages keeps the stream's latency budget.
    const chain = buildChainSpec(id, version, plan.stages, plan.fused, new Date(), { latencyBudgetMs: plan.latencyBudgetMs ?? current?.value.latencyBudgetMs });
    const written = current ? await this.chains.update(id, chain, current.revision) : await this.chains.create(id, chain);
    if (written === undefined) throw new ConflictException(`the chain of stream ${id} changed concurrently; retry`);

    const request2 = { ...entry.value.request, stages: request.stages, pipeline: undefined, overrides: undefined, fuse: request.fuse };
    const saved = await this.save(entry, { chainVersion: version, request: request2 as StartStreamRequest }, 'live');
    this.metrics.chainChanges.inc();
    await this.event(id, 'chain-changed', `chain version ${version}`, { version, hops: chain.hops });
    this.logger.log(`streamId=${id} chain changed to version ${version}: ${plan.stages.map((s) => s.service).join(' -> ')}`);
    const dropped = (current?.value.hops ?? []).map((h) => h.service).filter((s) => !plan.stages.some((p) => p.service === s));
    await this.releaseUnused(undefined, dropped);
    return this.view(saved.value, chain);
  }

  private plan(request: PlanRequest, snapshot: CatalogueSnapshot, origin: string): ChainPlan {
    try {
      return planChain(request, snapshot);
    } catch (e) {
      if (e instanceof ChainPlanError) {
        this.metrics.planFailures.inc({ origin });
        this.logger.warn(`streamId=${request.id} chain refused (${origin}): ${e.problems.join('; ')}`);
      }
      throw e;
    }
  }

  private mayStartOver(r: StreamRecord): boolean {
    if (r.state === 'ended' || r.state === 'failed') return true;
    return r.state === 'starting' && Date.now() - Date.parse(r.updatedAt) > STALE_START_MS;
  }

  /**
   * One start instruction per distinct service that receives segments: a warm instance is reused,
   * else one is started. A stage fused into an earlier hop runs in that hop's worker, so its own
   * service needs no container for this chain.
   */
  private async ensureServices(id: string, plan: ChainPlan, snapshot: CatalogueSnapshot): Promise<void> {
    const inside = new Set(plan.fused.flatMap((g) => g.slice(1)));
    for (const name of new Set(plan.stages.filter((_, i) => !inside.has(i)).map((s) => s.service))) {
      const spec = snapshot.services.get(name)!;
      const { instance, reused } = await this.runtime.ensure({ service: spec, startParams: spec.startParams ?? {} });
      this.logger.log(`streamId=${id} service=${name} containerId=${instance.id} ${reused ? 'reused' : 'started'}`);
    }
  }

  /**
   * Waits until LM_SEG holds nothing for the stream's hops. Work-queue retention removes a
   * segment when its hop acks it, so an empty subject means nothing is queued or in flight.
   */
  private async drain(id: string, chain: ChainSpec): Promise<void> {
    const deadline = Date.now() + this.env.STOP_DRAIN_SECONDS * 1000;
    for (;;) {
      let pending = 0;
      for (const hop of chain.hops) {
        const info = await this.bus.streamInfo(STREAMS.segments, { subjects: hop.subject });
        pending += Object.values(info.subjects).reduce((a, b) => a + b, 0);
      }
      if (pending === 0) return;
      if (Date.now() >= deadline) {
        this.logger.warn(`streamId=${id} ${pending} segment(s) still in the chain after ${this.env.STOP_DRAIN_SECONDS}s; ending anyway`);
        return;
      }
      await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    }
  }

  /** Releases the services no remaining chain uses; the runtime keeps them warm for the idle grace. */
  private async releaseUnused(exceptStream: string | undefined, services: string[]): Promise<void> {
    if (services.length === 0) return;
    const inUse = new Set<string>();
    for (const c of await this.chains.list()) {
      if (c.key !== exceptStream) for (const h of c.value.hops) inUse.add(h.service);
    }
    for (const service of new Set(services)) {
      if (inUse.has(service)) continue;
      try {
        await this.runtime.release(service);
        // An operator's replica count holds while streams use the service; idle, it is back to minReplicas.
        await this.catalogue.clearScale(service);
        this.logger.log(`service=${service} released: no stream uses it`);
      } catch (e) {
        this.logger.warn(`service=${service} release failed: ${(e as Error).message}`);
      }
    }
  }

  private async require(id: string): Promise<JsonEntry<StreamRecord>> {
    assertToken('stream id', id);
    const e = await this.records.get(id);
    if (!e) throw new NotFoundError(`stream "${id}" does not exist`);
    return e;
  }

  private async view(record: StreamRecord, chain: ChainSpec | undefined, status: DataPlaneStatus = {}, key?: string): Promise<StreamView> {
    if (playbackPolicy(record).signed) await this.signer.ready();
    return toStreamView(this.env, record, chain, status, key, this.signer);
  }

  /**
   * A fresh signed playback URL for a signed stream (POST /api/streams/:id/playback-url), valid
   * `ttlSeconds` (default: the stream's own). A public stream has none to give.
   */
  async playbackUrl(id: string, request: PlaybackUrlRequest = {}): Promise<StreamView['playback']> {
    const record = (await this.require(id)).value;
    const policy = playbackPolicy(record);
    if (!policy.signed) throw new ValidationFailedError(`stream "${id}" has public playback`, [`its playlist is ${playbackUrl(this.env, id)}; start it with playback: { signed: true } to sign its URLs`]);
    await this.signer.ready();
    return signedPlayback(this.env, id, this.signer.sign(id, request.ttlSeconds ?? policy.ttlSeconds));
  }

  private async viewOf(record: StreamRecord): Promise<StreamView> {
    return this.view(record, (await this.chains.get(record.id))?.value, await this.dataPlane(record.id));
  }

  /** What ingest (SRT port) and delivery (latency) report about the stream; missing reports are left out. */
  private async dataPlane(id: string): Promise<DataPlaneStatus> {
    const read = async <T>(key: string): Promise<T | undefined> => (await this.status.get(key).catch(() => undefined))?.value as T | undefined;
    return { ingest: await read<IngestStatus>(statusKey(id, 'ingest')), delivery: await read<DeliveryStatus>(statusKey(id, 'delivery')) };
  }

  /** Compare-and-set write of a whole new value (fields may go); a concurrent writer makes it fail (409). */
  private async saveWhole(entry: JsonEntry<StreamRecord>, value: StreamRecord, onlyFrom?: StreamRecord['state']): Promise<JsonEntry<StreamRecord>> {
    if (onlyFrom && entry.value.state !== onlyFrom) throw new ConflictException(`stream ${entry.key} became ${entry.value.state} meanwhile`);
    const next = { ...value, updatedAt: new Date().toISOString() };
    const revision = await this.records.update(entry.key, next, entry.revision);
    if (revision === undefined) throw new ConflictException(`stream ${entry.key} changed meanwhile; retry`);
    this.table.apply(entry.key, next, revision);
    return { key: entry.key, value: next, revision };
  }

  /** Compare-and-set write of a change to the record; a concurrent writer is re-read and the change applied on top. */
  private async save(
    entry: JsonEntry<StreamRecord>,
    change: Partial<StreamRecord>,
    onlyFrom?: StreamRecord['state'],
  ): Promise<JsonEntry<StreamRecord>> {
    let current = entry;
    for (let attempt = 0; attempt < 5; attempt++) {
      if (onlyFrom && current.value.state !== onlyFrom) {
        throw new ConflictException(`stream ${entry.key} became ${current.value.state} meanwhile`);
      }
      const value = { ...current.value, ...change, updatedAt: new Date().toISOString() };
      const revision = await this.records.update(entry.key, value, current.revision);
      if (revision !== undefined) {
        this.table.apply(entry.key, value, revision);
        return { key: entry.key, value, revision };
      }
      const fresh = await this.records.get(entry.key);
      if (!fresh) throw new NotFoundError(`stream "${entry.key}" vanished while being updated`);
      current = fresh;
    }
    throw new ConflictException(`stream ${entry.key} is being changed by someone else; retry`);
  }

  private event<K extends StreamEventKind>(streamId: string, kind: K, message: string, data?: StreamEventData[K]): Promise<void> {
    return publishStreamEvent<K>(this.bus, { streamId, kind, message, ...(data ? { data } : {}) } as NewStreamEvent<K>);
  }
}

/** The record's name in `lm_keys`: the key's hash (a record from before hashing: its plaintext key, until migrated). */
function storedKeyName(r: StreamRecord): string {
  return r.keyHash ?? r.key ?? '';
}
