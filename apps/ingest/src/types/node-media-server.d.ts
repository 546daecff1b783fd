// node-media-server 4.x ships CommonJS without type declarations: this is the part ingest uses
// (src/index.js, src/session/rtmp_session.js, src/server/broadcast_server.js, src/core/logger.js).
declare module 'node-media-server' {
  import type { Server, Socket } from 'node:net';

  export interface NmsConfig {
    bind?: string;
    rtmp?: { port?: number };
    http?: { port?: number };
    record?: { auto?: boolean; path?: string };
    store?: { path?: string; flushInterval?: number };
    webadmin?: { enable?: boolean };
    auth?: { play?: boolean; publish?: boolean; secret?: string };
  }

  export interface NmsBroadcast {
    streamPath: string;
    publisher: NmsSession | null;
    subscribers: Map<string, NmsSession>;
    /** How long a publisher that dropped may reconnect (same address) and continue the timeline, ms. */
    publishGraceMs: number;
  }

  export interface NmsSession {
    id: string;
    /** `address:port` of the peer. */
    ip: string;
    protocol: string;
    isPublisher: boolean;
    streamApp: string;
    streamName: string;
    streamPath: string;
    /** RTMP sessions only. */
    socket?: Socket;
    broadcast?: NmsBroadcast;
    close(): void;
  }

  export type NmsEvent = 'prePublish' | 'postPublish' | 'donePublish' | 'prePlay' | 'postPlay' | 'donePlay';

  export default class NodeMediaServer {
    constructor(config: NmsConfig, configPath?: string);
    rtmpServer: { tcpServer?: Server };
    on(event: NmsEvent, listener: (session: NmsSession) => void): void;
    run(): Promise<void>;
    stop(): Promise<void>;
  }
}

declare module 'node-media-server/src/core/logger.js' {
  const logger: {
    level: string;
    log(message: string, level?: string): void;
  };
  export default logger;
}

declare module 'node-media-server/src/core/context.js' {
  import type { EventEmitter } from 'node:events';
  import type { NmsBroadcast } from 'node-media-server';
  const context: { eventEmitter: EventEmitter; broadcasts: Map<string, NmsBroadcast> };
  export default context;
}
