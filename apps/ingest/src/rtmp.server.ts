import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { resolve } from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { hashStreamKey, keyLabel, ENV, type IngestSettings } from '@livemesh/contracts';
import NodeMediaServer, { type NmsEvent, type NmsSession } from 'node-media-server';
import nmsContext from 'node-media-server/src/core/context.js';
import nmsLogger from 'node-media-server/src/core/logger.js';
import { IngestMetrics } from './ingest.metrics.js';
import { PUBLISH_APP, decidePublish, type PublishDecision } from './publish.policy.js';
import { SegmenterService } from './segmenter.service.js';
import { StreamDirectory } from './stream.directory.js';
import { redactKey, redactNmsMessage } from './stream-key.redact.js';

interface Publisher {
  streamId: string;
  keyHash: string;
  /**
   * `/live/<random>`: another name of the publisher's broadcast, which the segmenter plays, so that
   * the key never appears in the segmenter's argv (any local user can read a process's argv).
   */
  playPath: string;
  session: NmsSession;
  socket: Socket;
}

/** The segmenter must be playing before the publisher's media flows, or the first GOPs are lost. */
const PLAY_WAIT_MS = 5000;

/** `address:port` -> address. */
export function addressOf(ip: string): string {
  return ip.replace(/:\d+$/, '');
}

export function isLoopback(address: string): boolean {
  const a = address.replace(/^::ffff:/, '');
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}

/**
 * The RTMP listener: node-media-server in-process. Publishers push to
 * rtmp://<host>:<port>/live/<streamKey>; a publish is held (socket paused) until the key's hash is
 * checked against `lm_keys` / `lm_streams` and the stream's segmenter (ffmpeg, playing a random
 * second name of the broadcast from 127.0.0.1) is attached, then released. Only that local
 * segmenter may play.
 */
@Injectable()
export class RtmpIngestServer {
  private readonly logger = new Logger(RtmpIngestServer.name);
  private readonly nmsLog = new Logger('NodeMediaServer');
  private nms?: NodeMediaServer;
  private listening = false;
  private stopping = false;
  private readonly publishers = new Map<string, Publisher>();
  private readonly playWaiters = new Map<string, Set<() => void>>();
  private readonly handlers: [NmsEvent, (s: NmsSession) => void][] = [
    ['prePublish', (s) => this.onPrePublish(s)],
    ['prePlay', (s) => this.onPrePlay(s)],
    ['postPlay', (s) => this.onPostPlay(s)],
  ];

  constructor(
    @Inject(ENV) private readonly env: IngestSettings,
    @Inject(StreamDirectory) private readonly directory: StreamDirectory,
    @Inject(SegmenterService) private readonly segmenter: SegmenterService,
    @Inject(IngestMetrics) private readonly metrics: IngestMetrics,
  ) {}

  get isListening(): boolean {
    return this.listening;
  }

  async start(): Promise<void> {
    this.routeNmsLogs();
    const storePath = resolve(this.env.LIVEMESH_DATA_DIR, 'ingest-store');
    await mkdir(storePath, { recursive: true });
    // No http port: NMS then opens no HTTP-FLV / admin listener at all.
    const nms = new NodeMediaServer({
      bind: this.env.LIVEMESH_BIND,
      rtmp: { port: this.env.RTMP_PORT },
      record: { auto: false },
      webadmin: { enable: false },
      store: { path: storePath },
    });
    this.nms = nms;
    for (const [event, handler] of this.handlers) nmsContext.eventEmitter.on(event, handler);
    const running = nms.run();
    const server = nms.rtmpServer.tcpServer;
    if (!server) throw new Error('node-media-server created no RTMP listener');
    // NMS exits the whole process when its port is taken; report it as a boot failure instead.
    server.removeAllListeners('error');
    await new Promise<void>((ok, fail) => {
      server.once('listening', ok);
      server.once('error', (e: Error) => fail(new Error(`RTMP cannot listen on ${this.env.LIVEMESH_BIND}:${this.env.RTMP_PORT}: ${e.message}`, { cause: e })));
    });
    server.on('error', (e: Error) => this.logger.error(`RTMP listener: ${e.message}`));
    server.on('close', () => (this.listening = false));
    this.listening = true;
    await running;
    this.logger.log(`RTMP listening on rtmp://${this.env.LIVEMESH_BIND}:${this.env.RTMP_PORT}/${PUBLISH_APP}/<streamKey>`);
  }

  /** Closes the stream's publisher (its stream stopped); the segmenter flushes on the way out. */
  closeStream(streamId: string, why: string): void {
    const pub = this.publishers.get(streamId);
    if (!pub) return;
    this.logger.log(`stream ${streamId}: closing its RTMP publisher: ${why}`);
    pub.socket.destroy();
  }

  /** Closes the publisher using the key of `keyHash` (its `lm_keys` entry was deleted: the stream stopped or the key was rotated). */
  closeKey(keyHash: string): void {
    for (const pub of this.publishers.values()) {
      if (pub.keyHash === keyHash) this.closeStream(pub.streamId, `key ${keyLabel(keyHash)} was withdrawn`);
    }
  }

  /** Flushes every stream's segmenter, then closes the listener and all connections. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.publishers.keys()].map((id) => this.segmenter.end(id)));
    for (const [event, handler] of this.handlers) nmsContext.eventEmitter.removeListener(event, handler);
    await this.nms?.stop();
    this.listening = false;
  }

  private onPrePublish(session: NmsSession): void {
    // NMS resumes a publisher that reconnects within this window onto the old clock (planRun sees a
    // continued timeline); it is fixed per broadcast, so it is set on each one as it is published.
    if (session.broadcast) session.broadcast.publishGraceMs = this.env.RTMP_RESUME_GRACE_SECONDS * 1000;
    const socket = session.socket;
    if (!socket) return;
    // Hold the media until we know who this is and the segmenter listens (see PLAY_WAIT_MS).
    socket.pause();
    void this.authorize(session, socket).catch((e: Error) => {
      this.logger.error(`publish from ${addressOf(session.ip)} failed: ${e.message}`);
      socket.destroy();
    });
  }

  private async authorize(session: NmsSession, socket: Socket): Promise<void> {
    const keyHash = hashStreamKey(session.streamName);
    const ip = addressOf(session.ip);
    let decision: PublishDecision;
    if (this.stopping) {
      socket.destroy();
      return;
    }
    try {
      const keyEntry = session.streamApp === PUBLISH_APP ? await this.directory.lookupKey(keyHash) : undefined;
      const record = keyEntry ? await this.directory.record(keyEntry.streamId) : undefined;
      decision = decidePublish({
        app: session.streamApp,
        keyHash,
        ip,
        keyEntry,
        record,
        alreadyPublishing: keyEntry ? this.publishers.has(keyEntry.streamId) : false,
      });
    } catch (e) {
      decision = {
        accepted: false,
        reason: 'lookup-failed',
        message: `publish refused: key ${keyLabel(keyHash)} (hash prefix) could not be checked: ${(e as Error).message} (app "${session.streamApp}", ip ${ip})`,
      };
    }
    if (!decision.accepted) {
      this.metrics.refused(decision.reason);
      this.logger.warn(decision.message);
      socket.destroy();
      return;
    }
    const { streamId } = decision;
    if (socket.destroyed) return;
    const playPath = `/${PUBLISH_APP}/lm-play-${randomBytes(12).toString('hex')}`;
    const pub: Publisher = { streamId, keyHash, playPath, session, socket };
    // NMS finds a player's broadcast by path: the second name leads to the publisher's broadcast.
    if (session.broadcast) nmsContext.broadcasts.set(playPath, session.broadcast);
    this.publishers.set(streamId, pub);
    socket.once('close', () => void this.publisherLeft(pub));
    this.logger.log(`stream ${streamId}: RTMP publisher accepted (key ${keyLabel(keyHash)}, ip ${ip})`);

    const playing = this.waitForPlay(playPath);
    const key = session.streamName;
    await this.segmenter.begin(streamId, {
      kind: 'rtmp',
      input: { url: `rtmp://127.0.0.1:${this.env.RTMP_PORT}${playPath}`, protocols: ['rtmp', 'tcp'] },
      redact: (text) => text.replaceAll(key, redactKey(key)),
      endInput: () => this.closePlayers(pub),
    });
    if (!(await playing)) this.logger.warn(`stream ${streamId}: segmenter did not attach within ${PLAY_WAIT_MS} ms; releasing the publisher anyway`);
    if (!socket.destroyed) socket.resume();
  }

  private async publisherLeft(pub: Publisher): Promise<void> {
    if (nmsContext.broadcasts.get(pub.playPath) === pub.session.broadcast) nmsContext.broadcasts.delete(pub.playPath);
    if (this.publishers.get(pub.streamId) !== pub) return;
    this.publishers.delete(pub.streamId);
    this.logger.log(`stream ${pub.streamId}: RTMP publisher left; flushing its segmenter`);
    await this.segmenter.end(pub.streamId);
  }

  /** Ending the segmenter's play session is an end-of-stream for ffmpeg: it closes the last segment. */
  private closePlayers(pub: Publisher): void {
    for (const s of pub.session.broadcast?.subscribers.values() ?? []) s.close();
  }

  private onPrePlay(session: NmsSession): void {
    const address = addressOf(session.ip);
    const ours = [...this.publishers.values()].some((p) => p.playPath === session.streamPath);
    if (isLoopback(address) && ours) return;
    this.logger.warn(`play refused: only the local segmenter plays accepted streams (app "${session.streamApp}", key "${redactKey(session.streamName)}", ip ${address})`);
    if (session.socket) session.socket.destroy();
    else session.close();
  }

  private onPostPlay(session: NmsSession): void {
    if (!isLoopback(addressOf(session.ip))) return;
    const waiters = this.playWaiters.get(session.streamPath);
    if (!waiters) return;
    this.playWaiters.delete(session.streamPath);
    for (const w of waiters) w();
  }

  private waitForPlay(streamPath: string): Promise<boolean> {
    return new Promise((done) => {
      const waiters = this.playWaiters.get(streamPath) ?? new Set();
      this.playWaiters.set(streamPath, waiters);
      const timer = setTimeout(() => {
        waiters.delete(resolveWaiter);
        if (waiters.size === 0 && this.playWaiters.get(streamPath) === waiters) this.playWaiters.delete(streamPath);
        done(false);
      }, PLAY_WAIT_MS);
      const resolveWaiter = () => {
        clearTimeout(timer);
        done(true);
      };
      waiters.add(resolveWaiter);
    });
  }

  /** NMS prints everything at debug through console.log; route it through Nest, keys redacted. */
  private routeNmsLogs(): void {
    const log = this.nmsLog;
    nmsLogger.log = (message: string, level = 'info') => {
      const text = redactNmsMessage(String(message));
      if (level === 'error') log.error(text);
      else if (level === 'warn') log.warn(text);
      else if (level === 'info') log.debug(text);
      else log.verbose(text);
    };
  }
}
