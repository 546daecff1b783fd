import { Inject, Injectable, Logger } from '@nestjs/common';
import { Bus, publishStreamEvent } from '@livemesh/bus';
import { SRT_PASSPHRASE, SourceUrlError, loadIngestSecret, openSecret, srtPassphraseAad, type StreamRecord, ENV, type IngestSettings } from '@livemesh/contracts';
import { INGESTING_STATES } from './publish.policy.js';
import { RtmpIngestServer } from './rtmp.server.js';
import { SegmenterService } from './segmenter.service.js';
import { SrtListeners } from './srt.listeners.js';
import { checkOutboundAddresses, checkSourceUrl, parseAddressRanges, pinnedTarget, type AddressRange, type CheckedSourceUrl, type UrlSource } from '@livemesh/media';
import { IngestEgress } from './egress.js';
import { StreamDirectory } from './stream.directory.js';
import { redactPinned, redactUrl } from './stream-key.redact.js';

/**
 * Follows the orchestrator's stream records and keys: pulls the URL of a starting/live stream that
 * names a source, opens an SRT listener for one that is published (when SRT is on), and ends
 * ingest of a stream whose key is withdrawn or whose record leaves starting/live.
 */
@Injectable()
export class StreamWatcher {
  private readonly logger = new Logger(StreamWatcher.name);
  /** streamId -> URL being pulled. */
  private readonly pulls = new Map<string, string>();
  /** streamId -> URL already refused, so a record update does not repeat the refusal. */
  private readonly refusedUrls = new Map<string, string>();
  /** Record changes of one stream are handled one after another. */
  private readonly queues = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(
    @Inject(Bus) private readonly bus: Bus,
    @Inject(StreamDirectory) private readonly directory: StreamDirectory,
    @Inject(SegmenterService) private readonly segmenter: SegmenterService,
    @Inject(RtmpIngestServer) private readonly rtmp: RtmpIngestServer,
    @Inject(SrtListeners) private readonly srt: SrtListeners,
    @Inject(IngestEgress) private readonly egress: IngestEgress,
    @Inject(ENV) private readonly env: IngestSettings,
  ) {
    // Parsed at boot: a bad range stops ingest here rather than refusing every pull later.
    this.allowedRanges = parseAddressRanges(env.LIVEMESH_ALLOW_PRIVATE_SOURCES);
  }

  private readonly allowedRanges: AddressRange[];
  /** The ingest secret once found (the orchestrator creates it; ingest may boot first). */
  private ingestSecret?: Buffer;

  async start(): Promise<void> {
    await this.directory.watchKeyDeletes((key) => this.rtmp.closeKey(key));
    await this.directory.watchRecords((id, record) => {
      if (this.stopped) return;
      const next = (this.queues.get(id) ?? Promise.resolve())
        .then(() => (this.stopped ? undefined : this.onRecord(id, record)))
        .catch((e: Error) => this.logger.error(`stream ${id}: ${e.message}`));
      this.queues.set(id, next);
      void next.then(() => {
        if (this.queues.get(id) === next) this.queues.delete(id);
      });
    });
  }

  /** Stops following records and flushes every pull. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.queues.values());
    await this.srt.releaseAll();
    const ids = [...this.pulls.keys()];
    this.pulls.clear();
    await Promise.all(ids.map((id) => this.segmenter.end(id)));
  }

  /** The stream's SRT passphrase (its key), opened with the ingest secret; undefined, with a log line, when it cannot be. */
  private async openPassphrase(record: StreamRecord): Promise<string | undefined> {
    this.ingestSecret ??= await loadIngestSecret(this.env, false);
    const passphrase = this.ingestSecret ? openSecret(this.ingestSecret, record.srtPassphrase, srtPassphraseAad(record.id, record.keyHash)) : undefined;
    if (passphrase !== undefined && SRT_PASSPHRASE.test(passphrase)) return passphrase;
    this.logger.error(
      `stream ${record.id}: its SRT passphrase cannot be opened (${this.ingestSecret ? 'sealed under another ingest secret' : 'no ingest secret: LIVEMESH_INGEST_SECRET or <LIVEMESH_DATA_DIR>/ingest.secret'}); SRT publishing is off for it`,
    );
    return undefined;
  }

  private async onRecord(streamId: string, record: StreamRecord | undefined): Promise<void> {
    const ingesting = record !== undefined && INGESTING_STATES.includes(record.state);
    if (!ingesting) {
      const why = record ? `stream is ${record.state}` : 'stream record deleted';
      this.rtmp.closeStream(streamId, why);
      await this.srt.release(streamId);
      if (this.pulls.delete(streamId)) {
        this.logger.log(`stream ${streamId}: stopping the pull: ${why}`);
        await this.segmenter.end(streamId);
      }
      this.refusedUrls.delete(streamId);
      if (!record || record.state === 'ended' || record.state === 'failed') await this.segmenter.forget(streamId);
      return;
    }
    const url = record.request?.source?.url;
    if (typeof url !== 'string') {
      // Published, not pulled: RTMP always listens; SRT gets a listener of its own.
      if (this.srt.enabled && record.srtPassphrase) {
        const passphrase = await this.openPassphrase(record);
        if (passphrase !== undefined) await this.srt.ensure(streamId, passphrase);
      }
      return;
    }
    if (this.pulls.get(streamId) === url || this.refusedUrls.get(streamId) === url) return;
    let input;
    try {
      input = checkSourceUrl(url);
      // After DNS: a name leading to loopback, a private network or the metadata service is refused.
      await checkOutboundAddresses('source URL', url, this.allowedRanges);
    } catch (e) {
      if (!(e instanceof SourceUrlError)) throw e;
      this.refusedUrls.set(streamId, url);
      this.logger.warn(`stream ${streamId}: source URL refused: ${e.message}`);
      await publishStreamEvent(this.bus, { streamId, kind: 'failed', message: `source URL refused: ${e.message}`, data: { code: e.code } }).catch(
        (err: Error) => this.logger.warn(`stream ${streamId}: 'failed' event not sent: ${err.message}`),
      );
      return;
    }
    this.pulls.set(streamId, url);
    this.logger.log(`stream ${streamId}: pulling ${redactUrl(url)}`);
    await this.segmenter.begin(streamId, {
      kind: 'pull',
      input: { url: input.url, protocols: input.protocols },
      prepare: () => this.connectable(input),
      redact: (text) => redactPinned(text, url),
    });
  }

  /**
   * What ffmpeg opens for one run of a pull, so that where it connects is what was checked:
   * http(s) and rtmps go through the egress proxy (every request, redirects and playlist entries
   * included, checked as it is made, the name kept for TLS); rtmp and SRT are resolved and checked
   * again now, and ffmpeg gets the address instead of the name (no second lookup for a rebinding
   * answer).
   */
  private async connectable(input: CheckedSourceUrl): Promise<UrlSource> {
    const base = { url: input.url, protocols: input.protocols };
    // TLS sends and checks the name: https and rtmps keep it and go through the proxy (CONNECT).
    if (input.scheme === 'http' || input.scheme === 'https' || input.scheme === 'rtmps') return { ...base, httpProxy: this.egress.url };
    const [address] = await checkOutboundAddresses('source URL', input.url, this.allowedRanges);
    return address === undefined ? base : { ...base, ...pinnedTarget(input.url, address) };
  }
}
