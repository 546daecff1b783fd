import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { ENV, BUCKETS, SourceUrlError, type StreamRecord, type DeliverySettings } from '@livemesh/contracts';
import { Bus, JsonStore } from '@livemesh/bus';
import { EgressProxy, SupervisedProcess, checkOutboundAddresses, checkPushUrl, ffmpegNetworkEnv, inputArgs, parseAddressRanges, pinnedTarget, type AddressRange, type CheckedPushUrl } from '@livemesh/media';
import { DeliveryMetrics } from './delivery.metrics.js';
import { HlsRegistry } from './hls.registry.js';
import type { PlaylistEntry } from './hls.playlist.js';

/** Bytes queued for one ffmpeg before the target counts as stuck and is restarted. */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;
const FIRST_BACKOFF_MS = 1000;
/** How long an ended stream's push may take to send what it holds before it is stopped, ms. */
const END_GRACE_MS = 10_000;
const MAX_BACKOFF_MS = 30_000;

/**
 * A push target and where ffmpeg connects for it, so that it is what was checked: rtmp goes to
 * the address its host was checked at (no second lookup, so no DNS rebinding) and announces the
 * name in tcUrl; rtmps keeps its name for TLS and goes through delivery's egress proxy
 * (`httpProxy`), which checks the address and connects to it.
 */
export type PinnedPushUrl = CheckedPushUrl & { address?: string; httpProxy?: string };

/** ffmpeg arguments that copy MPEG-TS from stdin to one RTMP target. */
export function pushArgs(target: PinnedPushUrl): string[] {
  const to = target.address === undefined ? { url: target.url } : pinnedTarget(target.url, target.address);
  if (target.scheme === 'rtmps' && target.httpProxy === undefined) throw new SourceUrlError('an rtmps push needs the egress proxy');
  return [
    ...inputArgs({ source: 'pipe', format: 'mpegts' }),
    '-map', '0:v:0?',
    '-map', '0:a:0?',
    '-c', 'copy',
    // An output's own whitelist: the URL can open nothing but RTMP(S) and what it runs over.
    '-protocol_whitelist', target.protocols.join(','),
    ...(to.rtmpTcUrl === undefined ? [] : ['-rtmp_tcurl', to.rtmpTcUrl]),
    ...(target.scheme === 'rtmps' && target.httpProxy !== undefined ? ['-http_proxy', target.httpProxy] : []),
    '-f', 'flv',
    to.url,
  ];
}

/** A target URL as logs show it: stream keys sit in the path, so only scheme, host and app. */
export function redactTarget(url: string): string {
  try {
    const u = new URL(url);
    const app = u.pathname.split('/').filter(Boolean)[0] ?? '';
    return `${u.protocol}//${u.host}/${app}/…`;
  } catch {
    return `${url.slice(0, 8)}…`;
  }
}

/**
 * One RTMP push-out target of one stream: an ffmpeg fed with the stream's listed segments in
 * order on stdin. It never holds up HLS: segments are written without waiting, a target that
 * falls MAX_QUEUED_BYTES behind or dies is restarted (with back-off) at the next segment.
 */
class RtmpPush {
  private proc?: SupervisedProcess;
  /** A process was started and has not exited (it may still be spawning). */
  private live = false;
  private backoff = FIRST_BACKOFF_MS;
  private restartAt = 0;
  private closed = false;
  private stderr: string[] = [];

  constructor(
    private readonly streamId: string,
    private readonly target: PinnedPushUrl,
    private readonly ffmpegPath: string,
    private readonly metrics: DeliveryMetrics,
    private readonly logger: Logger,
  ) {}

  /** Writes one listed segment; starts (or restarts) ffmpeg when needed. */
  write(entry: PlaylistEntry): void {
    if (this.closed) return;
    // `live`, not isRunning: a process spawned a moment ago is not running yet, and starting a
    // second one then (two segments listed in one tick) left the first orphaned with the first
    // segment, pushing to the same target.
    if (!this.live && !this.start()) return;
    const stdin = this.proc?.stdin;
    if (!stdin || stdin.destroyed) return;
    if (stdin.writableLength > MAX_QUEUED_BYTES) {
      this.logger.warn(`stream ${this.streamId}: RTMP target ${redactTarget(this.target.url)} is ${stdin.writableLength} B behind; restarting it`);
      void this.proc?.stop(1000);
      return;
    }
    if (entry.data) stdin.write(entry.data);
    this.metrics.pushedSegments.inc();
  }

  /**
   * The stream ended: ffmpeg gets end-of-input, sends what it has and exits. One that is still
   * running END_GRACE_MS later (a target that stopped reading) is stopped, so no push outlives its
   * stream.
   */
  end(): Promise<void> {
    this.closed = true;
    const proc = this.proc;
    proc?.stdin?.end();
    if (!proc || !this.live) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => void proc.stop(1000).finally(resolve), END_GRACE_MS);
      proc.once('exited', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.proc?.stdin?.end();
    await this.proc?.stop(3000);
  }

  private start(): boolean {
    const now = Date.now();
    if (now < this.restartAt) return false;
    const args = pushArgs(this.target);
    const connected = args[args.length - 1]!;
    const proc = new SupervisedProcess(this.ffmpegPath, args, {
      stdin: 'pipe',
      processGroup: false,
      env: ffmpegNetworkEnv(),
      onStderrLine: (line) => {
        if (line.trim() === '') return;
        this.stderr.push(line.replaceAll(this.target.url, redactTarget(this.target.url)).replaceAll(connected, redactTarget(connected)));
        if (this.stderr.length > 10) this.stderr.shift();
      },
    });
    proc.on('start-failed', (e) => {
      if (this.proc === proc) this.live = false;
      this.logger.error(`stream ${this.streamId}: cannot run ${this.ffmpegPath}: ${e.message}`);
    });
    proc.on('exited', (info) => {
      if (this.proc !== proc) return;
      this.live = false;
      if (this.closed && (info.code === 0 || info.expected)) {
        this.logger.log(`stream ${this.streamId}: RTMP push to ${redactTarget(this.target.url)} finished`);
        return;
      }
      this.metrics.pushFailures.inc();
      this.restartAt = Date.now() + this.backoff;
      this.logger.warn(
        `stream ${this.streamId}: RTMP push to ${redactTarget(this.target.url)} ended (${info.signal ?? `code ${info.code}`}); restarting at a segment after ${this.backoff} ms` +
          (this.stderr.length ? `: ${this.stderr.join(' | ')}` : ''),
      );
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    });
    proc.on('started', () => (this.backoff = FIRST_BACKOFF_MS));
    this.proc = proc;
    this.live = true;
    this.stderr = [];
    proc.start();
    this.logger.log(`stream ${this.streamId}: pushing to ${redactTarget(this.target.url)}`);
    return true;
  }
}

interface StreamPush {
  /** Rendition pushed: chosen at the first listed segment, the highest bit rate then. */
  rendition?: string;
  targets: Map<string, RtmpPush>;
}

/**
 * RTMP push-out of the target stream to the URLs a stream's start request names in
 * `outputs.rtmp` (read from `lm_streams`, checked again here with the same policy as the
 * orchestrator's). Only live segments are pushed, not what is read back from LM_OUT at boot.
 */
@Injectable()
export class RtmpPushService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(RtmpPushService.name);
  private readonly records: JsonStore<StreamRecord>;
  private readonly wanted = new Map<string, string[]>();
  /** streamId -> target URL -> the address its host was checked at (what ffmpeg connects to). */
  private readonly addresses = new Map<string, Map<string, string>>();
  private readonly pushes = new Map<string, StreamPush>();
  /** Targets of ended streams still sending what they hold. */
  private readonly ending = new Set<RtmpPush>();
  private readonly allowedRanges: AddressRange[];
  /** rtmps pushes go through it (CONNECT): the address is checked and connected to, the name kept for TLS. */
  private readonly egress: EgressProxy;
  /** The targets each stream's record asks for; `wanted` holds those that passed the address check. */
  private readonly asked = new Map<string, string[]>();
  private stopWatch?: () => void;

  constructor(
    @Inject(ENV) private readonly env: DeliverySettings,
    bus: Bus,
    private readonly registry: HlsRegistry,
    private readonly metrics: DeliveryMetrics,
  ) {
    this.records = bus.store(BUCKETS.streams);
    this.allowedRanges = parseAddressRanges(env.LIVEMESH_ALLOW_PRIVATE_SOURCES);
    const egressLog = new Logger('Egress');
    this.egress = new EgressProxy({ allow: this.allowedRanges, log: (level, line) => (level === 'warn' ? egressLog.warn(line) : egressLog.debug(line)) });
    // Registered before any provider's bootstrap can start the output consumer.
    registry.onListed((streamId, rendition, entry, replayed) => {
      if (!replayed) this.listed(streamId, rendition, entry);
    });
    registry.onStreamGone((streamId, why) => {
      const push = this.pushes.get(streamId);
      if (!push) return;
      this.pushes.delete(streamId);
      for (const t of push.targets.values()) {
        // Still stopped at shutdown if it has not finished by then.
        this.ending.add(t);
        void (why === 'ended' ? t.end() : t.stop()).finally(() => this.ending.delete(t));
      }
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.logger.log(`egress proxy for rtmps pushes on ${await this.egress.start()}`);
    this.stopWatch = await this.records.watch('*', (streamId, record) => this.onRecord(streamId, record));
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopWatch?.();
    const all = [...this.pushes.values()].flatMap((p) => [...p.targets.values()]).concat([...this.ending]);
    this.pushes.clear();
    this.ending.clear();
    await Promise.all(all.map((t) => t.stop()));
    await this.egress.stop();
  }

  private onRecord(streamId: string, record: StreamRecord | undefined): void {
    const urls = record && (record.state === 'starting' || record.state === 'live') ? (record.request?.outputs?.rtmp ?? []) : [];
    if (urls.length === 0) {
      this.asked.delete(streamId);
      this.wanted.delete(streamId);
      this.addresses.delete(streamId);
    } else if (this.asked.get(streamId)?.join() !== urls.join()) {
      this.asked.set(streamId, urls);
      void this.allowOutbound(streamId, urls);
    }
  }

  /**
   * Keeps the targets whose host resolves only to addresses outbound traffic may go to (public, or
   * in LIVEMESH_ALLOW_PRIVATE_SOURCES): a push must not reach loopback services, private networks
   * or the metadata service. Refused targets are logged and left out.
   */
  private async allowOutbound(streamId: string, urls: string[]): Promise<void> {
    const allowed: string[] = [];
    const addresses = new Map<string, string>();
    for (const url of urls) {
      try {
        checkPushUrl(url);
        const [address] = await checkOutboundAddresses('RTMP output URL', url, this.allowedRanges);
        allowed.push(url);
        if (address !== undefined) addresses.set(url, address);
      } catch (e) {
        if (!(e instanceof SourceUrlError)) throw e;
        this.logger.warn(`stream ${streamId}: RTMP output refused: ${e.message}`);
      }
    }
    // A later record (stopped, other targets) decides instead.
    if (this.asked.get(streamId) !== urls) return;
    if (allowed.length) this.wanted.set(streamId, allowed);
    else this.wanted.delete(streamId);
    this.addresses.set(streamId, addresses);
  }

  private listed(streamId: string, rendition: string, entry: PlaylistEntry): void {
    const urls = this.wanted.get(streamId);
    let push = this.pushes.get(streamId);
    if (!push) {
      if (!urls) return;
      push = { targets: new Map() };
      for (const url of urls) {
        try {
          push.targets.set(url, new RtmpPush(streamId, { ...checkPushUrl(url), address: this.addresses.get(streamId)?.get(url), httpProxy: this.egress.url }, this.env.FFMPEG_PATH, this.metrics, this.logger));
        } catch (e) {
          if (!(e instanceof SourceUrlError)) throw e;
          this.logger.warn(`stream ${streamId}: RTMP output refused: ${e.message}`);
        }
      }
      this.pushes.set(streamId, push);
    }
    if (push.rendition === undefined) {
      const live = this.registry.liveRenditions(streamId) ?? [];
      push.rendition = live.reduce<[string, number] | undefined>((best, [name, p]) => {
        const bw = p.bandwidth()?.average ?? 0;
        return !best || bw > best[1] ? [name, bw] : best;
      }, undefined)?.[0] ?? rendition;
      this.logger.log(`stream ${streamId}: pushing rendition ${push.rendition} to ${push.targets.size} RTMP target(s)`);
    }
    if (rendition !== push.rendition) return;
    for (const t of push.targets.values()) t.write(entry);
  }
}
