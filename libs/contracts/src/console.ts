// What the console's routes answer (docs/api.md, "The console's routes"). Plain interfaces: the
// console's front end (apps/orchestrator/web) imports them as types, so both sides read one shape.
import type { StreamView } from './stream.js';
import type { WorkerHeartbeat } from './events.js';

/** GET /api/console/streams: one row of the console's stream list. */
export interface StreamSummary {
  id: string;
  state: StreamView['state'];
  /** The pipeline the start request named, or "custom" (stages given) or "auto" (chosen by selectors or the default). */
  pipeline: string;
  /** `pull` (the start request named a source URL) or `publish` (RTMP or SRT to ingest). */
  source: 'pull' | 'publish';
  services: string[];
  chainVersion: number;
  createdAt: string;
  /** Segments that entered the chain and are still known to JetStream: out + waiting + dead-lettered. */
  segmentsIn: number;
  /** Finished segments of the largest rendition within the output retention window. */
  segmentsOut: number;
  /** Segments waiting on any hop of the stream (LM_SEG). */
  pending: number;
  /** Dead-lettered segments (LM_DLQ), every service. */
  deadLetters: number;
  latency?: StreamView['latency'];
  /** Input bitrate of the last segment ingest published (kb/s, from its cursor in lm_ingest); absent before one. */
  inputKbps?: number;
}

/** GET /api/bus: the JetStream streams the mesh runs on and the consumers that read them. */
export interface BusView {
  connection: { connected: boolean; rttMs?: number; error?: string };
  streams: { name: string; messages: number; bytes: number; error?: string }[];
  /** Durable consumers: each service's (svc_<name>), delivery's and the orchestrator's own. */
  consumers: { stream: string; name: string; service?: string; pending: number; ackPending: number; redelivered: number }[];
}

/** GET /api/console/services: a catalogue entry with what runs of it now. */
export interface ServiceStatus {
  name: string;
  version: string;
  description?: string;
  builtIn: boolean;
  minReplicas?: number;
  maxReplicas?: number;
  autoscale: boolean;
  /** The runtime's instances of the service (processes or containers). */
  instances: { id: string; service: string; state: 'starting' | 'running' | 'exited'; startedAt: string; detail?: Record<string, string | number> }[];
  /** Segments waiting in the service's durable consumer (undelivered; delivered and not acked yet); null before it exists. */
  lag: { pending: number; ackPending: number } | null;
  /** The live heartbeats of its workers (lm_workers). */
  heartbeats: Pick<WorkerHeartbeat, 'workerId' | 'host' | 'pid' | 'startedAt' | 'at' | 'processed' | 'failed' | 'inFlight' | 'msPerSegment'>[];
}

/** GET /api/console/health: what the orchestrator can see of each component. */
export interface ComponentsHealth {
  components: { name: 'orchestrator' | 'nats' | 'delivery'; up: boolean; detail: string }[];
}
