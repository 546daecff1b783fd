import { createSocket } from 'node:dgram';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Bus, JsonStore } from '@livemesh/bus';
import { BUCKETS, statusKey, type IngestStatus, ENV, type IngestSettings } from '@livemesh/contracts';
import { SegmenterService } from './segmenter.service.js';
import { redactKey } from './stream-key.redact.js';

interface Listener {
  port: number;
  key: string;
}

/** `first-last` -> the ports, or none when SRT is off. */
export function parsePortRange(range: string): { first: number; last: number } | undefined {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(range);
  if (!m) return undefined;
  const first = Number(m[1]);
  const last = Number(m[2]);
  if (first < 1 || last > 65_535 || last < first) throw new RangeError(`SRT_PORT_RANGE ${range} is not a port range`);
  return { first, last };
}

/**
 * The SRT listener URL of one stream. ffmpeg's listener does not check the caller's streamid, so
 * the stream key is the SRT passphrase: the stream is AES-encrypted with it, and a caller without
 * it cannot even connect (libsrt enforces encryption on both sides).
 */
export function srtListenerUrl(bind: string, port: number, key: string): string {
  return `srt://${bind}:${port}?mode=listener&passphrase=${key}`;
}

/** True when nobody has `port` open on `bind` (UDP), checked by binding it for a moment. */
function udpPortFree(bind: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, bind, () => socket.close(() => resolve(true)));
  });
}

/**
 * One SRT listener (an ffmpeg in listener mode) per live stream that is published rather than
 * pulled, on a port from SRT_PORT_RANGE. The port goes to `lm_status[<id>.ingest]` so the
 * orchestrator can show the publish URL. The listener is the stream's standby source: it runs
 * whenever no RTMP publisher feeds the stream.
 */
@Injectable()
export class SrtListeners {
  private readonly logger = new Logger(SrtListeners.name);
  private readonly range?: { first: number; last: number };
  private readonly listeners = new Map<string, Listener>();
  private readonly status: JsonStore<IngestStatus>;

  constructor(
    @Inject(ENV) private readonly env: IngestSettings,
    @Inject(Bus) bus: Bus,
    @Inject(SegmenterService) private readonly segmenter: SegmenterService,
  ) {
    this.range = parsePortRange(env.SRT_PORT_RANGE);
    this.status = bus.store(BUCKETS.status);
  }

  get enabled(): boolean {
    return this.range !== undefined;
  }

  /** Listens for the stream (with `key` as passphrase) unless it already does with that key. */
  async ensure(streamId: string, key: string): Promise<void> {
    if (!this.range) return;
    const current = this.listeners.get(streamId);
    if (current?.key === key) return;
    if (current) await this.release(streamId);
    // The orchestrator refuses starts over MAX_SRT_LISTENERS; this holds the line should a record
    // get here anyway (another orchestrator, a raised limit there): each listener is an ffmpeg.
    if (this.listeners.size >= this.env.MAX_SRT_LISTENERS) {
      this.logger.error(`stream ${streamId}: ${this.listeners.size} SRT listeners are open (MAX_SRT_LISTENERS); SRT publishing is off for it`);
      return;
    }
    const port = await this.allocate();
    if (port === undefined) {
      this.logger.error(`stream ${streamId}: no free SRT port in ${this.env.SRT_PORT_RANGE}; SRT publishing is off for it`);
      return;
    }
    this.listeners.set(streamId, { port, key });
    await this.status.put(statusKey(streamId, 'ingest'), { streamId, srt: { port }, updatedAt: new Date().toISOString() });
    this.logger.log(`stream ${streamId}: SRT listener on ${this.env.LIVEMESH_BIND}:${port} (passphrase = key "${redactKey(key)}")`);
    await this.segmenter.setStandby(streamId, {
      kind: 'srt',
      input: { url: srtListenerUrl(this.env.LIVEMESH_BIND, port, key), protocols: ['srt', 'udp'] },
      redact: (text) => text.replaceAll(key, redactKey(key)),
    });
  }

  /** Stops listening for the stream and frees its port. */
  async release(streamId: string): Promise<void> {
    const l = this.listeners.get(streamId);
    if (!l) return;
    this.listeners.delete(streamId);
    await this.segmenter.setStandby(streamId, undefined);
    await this.status.delete(statusKey(streamId, 'ingest')).catch((e: Error) => this.logger.warn(`stream ${streamId}: SRT status not removed: ${e.message}`));
    this.logger.log(`stream ${streamId}: SRT listener on port ${l.port} closed`);
  }

  async releaseAll(): Promise<void> {
    await Promise.all([...this.listeners.keys()].map((id) => this.release(id)));
  }

  private async allocate(): Promise<number | undefined> {
    const { first, last } = this.range!;
    const taken = new Set([...this.listeners.values()].map((l) => l.port));
    for (let port = first; port <= last; port++) {
      if (!taken.has(port) && (await udpPortFree(this.env.LIVEMESH_BIND, port))) return port;
    }
    return undefined;
  }
}
