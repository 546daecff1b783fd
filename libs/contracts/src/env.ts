import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { ConfigError } from './errors.js';
import { Bytes, Count, JsonObject, ListOf, MiB, Millis, NatsUrls, OneOf, Path, Port, SECRET_VARIABLES, Secret, Seconds, Shaped, Text } from './env.kinds.js';

/**
 * Every environment variable livemesh reads, with its default, in groups; each process validates
 * only the groups it reads (PROCESS_GROUPS), so an ingest-only variable's bad value never stops
 * the orchestrator. `.env.example` lists the same variables; docs/configuration.md says what each
 * does, and its table of who reads what is generated from PROCESS_GROUPS. process.env is read
 * here and nowhere else. A group's `title` and `about` are that table's words.
 */

/** The bus connection and logging: every process. */
export class CommonEnv {
  static readonly title = 'common';
  static readonly about = 'each process its own `NATS_CREDS` (docs/security.md, "NATS credentials")';

  /**
   * NATS server(s), comma-separated; or `unix:///path`, a socket that relays to the bus (what the
   * docker runtime gives workers in containers without a network).
   */
  @NatsUrls()
  NATS_URL = 'nats://127.0.0.1:4222';

  /**
   * A NATS credentials file (JWT and seed) this process connects with; empty: none. `livemesh up`
   * sets it for each process it starts, the runtimes for each worker they start.
   */
  @Path()
  NATS_CREDS?: string = undefined;

  /** CA file that signed the NATS server's certificate: clients verify the server with it (TLS on). */
  @Path()
  NATS_TLS_CA?: string = undefined;

  @OneOf(['error', 'warn', 'log', 'debug', 'verbose'])
  LOG_LEVEL: 'error' | 'warn' | 'log' | 'debug' | 'verbose' = 'log';
}

/** What a supervised service process (the apps, a worker) reads. */
export class ServiceProcessEnv {
  static readonly title = 'service processes';
  static readonly about = '`LIVEMESH_PARENT_PID` is set by the process runtime for its workers and by `livemesh up` for the apps, never by hand';

  /** Address every HTTP and RTMP listener binds to (a worker's /metrics too). */
  @Text()
  LIVEMESH_BIND = '127.0.0.1';

  /**
   * The pid of the supervisor that started this process (the process runtime sets its own for
   * workers, `livemesh up` its own for the apps); 0 = none. A process whose parent is gone drains
   * and exits as on SIGTERM, so a killed supervisor leaves no orphans.
   */
  @Count(0)
  LIVEMESH_PARENT_PID = 0;
}

/** Local state on disk. */
export class LocalStateEnv {
  static readonly title = 'local state';
  static readonly about = '`livemesh up`: nats-server data, `admin.token`; ingest: segment temp files, `ingest.secret`; orchestrator: `admin.token`, secrets, the bus relay socket';

  /** Local state (nats-server data, temp files). */
  @Path()
  LIVEMESH_DATA_DIR = '.livemesh';
}

/** The limits of the streams and stores on the bus: the orchestrator creates the topology, the others bind. */
export class BusLimitsEnv {
  static readonly title = 'bus limits';
  static readonly about = 'the topology the orchestrator creates at boot (it owns the topology; ingest, delivery and workers wait for it and bind); see "Bus limits" below';

  /** Age after which LM_SEG drops a segment no hop took (it can no longer be live), seconds. */
  @Seconds(60, 86_400)
  SEGMENT_MAX_AGE_SECONDS = 600;

  /** Segments LM_SEG holds per stream and hop; the next publish for that stream and hop is refused. */
  @Count(10, 100_000)
  SEGMENTS_PER_STREAM = 600;

  /**
   * Replicas of every stream, consumer and bucket the orchestrator creates (its topology): 1 on a
   * single nats-server, 3 on a NATS cluster (JetStream allows 1 to 5; odd counts keep a quorum).
   */
  @Count(1, 5)
  NATS_REPLICAS = 1;

  /**
   * Where LM_SEG keeps segments waiting for a hop: `file` (the default), or `memory` (RAM of each
   * replica, no disk write per segment). Memory measured no faster on a loopback R3 cluster
   * (docs/scaling.md) and does not survive a restart of every server, nor of a single server (R1).
   * Applies when the orchestrator creates LM_SEG; an existing LM_SEG keeps its storage.
   */
  @OneOf(['file', 'memory'])
  SEGMENT_STORAGE: 'file' | 'memory' = 'file';

  /** LM_SEG's size limit, every stream together, bytes. */
  @Bytes(64 * 1024 * 1024)
  SEGMENT_STORE_BYTES = 4 * 1024 ** 3;

  /** The object store's size limit (claim-checked segments, thumbnails), bytes. */
  @Bytes(64 * 1024 * 1024)
  BLOB_STORE_BYTES = 2 * 1024 ** 3;

  /** Age after which a blob is removed, seconds (never less than SEGMENT_MAX_AGE_SECONDS and OUTPUT_RETENTION_SECONDS). */
  @Seconds(60)
  BLOB_TTL_SECONDS = 3600;
}

/** How long output stays on the bus: the topology's LM_OUT, and delivery's time-shift index. */
export class OutputRetentionEnv {
  static readonly title = 'output retention';
  static readonly about = 'LM_OUT\'s age and its output blobs\' TTL (the topology), and how far back delivery\'s time-shift index reaches';

  /** How long the output subject keeps segments (time-shift window), seconds. */
  @Seconds(10)
  OUTPUT_RETENTION_SECONDS = 600;
}

/** The orchestrator's own settings. */
export class OrchestratorEnv {
  static readonly title = 'orchestrator';
  static readonly about = '`NATS_ACCOUNT_SIGNER` mints each worker\'s credential and is never handed to a worker; `DELIVERY_URL` is where `/hls` is proxied to';

  /**
   * A file holding the livemesh NATS account and its signing key
   * (`{"account":"A...","signingKeySeed":"SA..."}`); when set, the orchestrator mints each worker
   * its own credential. `livemesh up` writes it for the nats-server it starts.
   */
  @Path()
  NATS_ACCOUNT_SIGNER?: string = undefined;

  /** Where the orchestrator proxies /hls to. */
  @Text()
  DELIVERY_URL = 'http://127.0.0.1:8082';

  /**
   * Host names and addresses the orchestrator answers to, comma-separated, besides the loopback
   * names (localhost, 127.0.0.1, ::1), LIVEMESH_BIND and LIVEMESH_PUBLIC_HOST; `*` answers any
   * (behind a proxy that checks Host itself). Other Host headers get 421: a DNS-rebinding guard.
   */
  @Shaped(/^(\*|[A-Za-z0-9.:[\]-]+(\s*,\s*[A-Za-z0-9.:[\]-]+)*)?$/, '* or a comma list of host names or addresses')
  LIVEMESH_ALLOWED_HOSTS = '';

  /**
   * The secret signed playback URLs are made with (docs/security.md, "Signed playback"): 64 hex
   * digits. Empty: `<LIVEMESH_DATA_DIR>/playback.secret`, created (mode 0600) on first use.
   * Give every orchestrator replica the same.
   */
  @Secret(/^([0-9a-fA-F]{64})?$/, '64 hex digits (32 bytes), or empty')
  LIVEMESH_PLAYBACK_SECRET = '';

  /** Longest a stopping stream waits for its in-flight segments to leave the chain, seconds. */
  @Seconds(0, 300)
  STOP_DRAIN_SECONDS = 10;

  /**
   * Streams starting or live at once; one more start is answered 429 LM_QUOTA.
   * Each published stream holds an ingest segmenter (one ffmpeg) and its share of the chain:
   * 32 is far more than one machine processes in real time, yet keeps a flood of starts from
   * growing state and processes without bound.
   */
  @Count(1, 100_000)
  MAX_LIVE_STREAMS = 32;

  /** Of those, streams whose source is a URL ingest pulls: each is an always-running ffmpeg and an outbound connection. */
  @Count(0, 100_000)
  MAX_PULLS = 8;

  /**
   * Renditions one stream's chain may produce (the size of its ABR ladders); a start or chain
   * change asking for more is answered 429. Four is what the built-in ladder encodes within a
   * segment's time on one core.
   */
  @Count(1, 64)
  MAX_RENDITIONS_PER_STREAM = 4;

  /**
   * A live stream that has had no segment from its publisher (or pulled source) for this long is
   * ended and what it left in LM_SEG purged, seconds; 0 never ends one. 120 s outlasts an RTMP
   * reconnect within RTMP_RESUME_GRACE_SECONDS (30 s) plus ingest's longest segmenter back-off
   * (30 s) and its source-silence timeout (15 s), so a publisher that comes back is never cut
   * off, while a stream left behind (say across a restart) is gone within about two minutes.
   */
  @Seconds(0, 86_400)
  STREAM_IDLE_TIMEOUT_S = 120;

  /**
   * How long the record of an ended or failed stream is kept (with its chain, key and status
   * entries), seconds: long enough to read why a stream failed the next day; then it is deleted
   * so the buckets stay bounded.
   */
  @Seconds(1, 30 * 86_400)
  STREAM_RECORD_TTL_S = 86_400;
}

/** The orchestrator's API and the URLs it hands out, which the CLI reads too. */
export class ApiEnv {
  static readonly title = 'API';
  static readonly about = 'the orchestrator serves it; the CLI calls it (`--api` defaults to `http://LIVEMESH_PUBLIC_HOST:HTTP_PORT`) and `livemesh up` reads the admin token it will have';

  /** Host name put into the URLs handed to publishers and viewers. */
  @Text()
  LIVEMESH_PUBLIC_HOST = '127.0.0.1';

  /** Orchestrator HTTP (API, dashboard, /hls proxy). */
  @Port()
  HTTP_PORT = 8080;

  /**
   * The bootstrap admin API token, `lm_<id>_<secret>` with a secret of 32 random bytes in
   * base64url. Unset: the orchestrator reads (or, on first start, writes)
   * `<LIVEMESH_DATA_DIR>/admin.token`. Never passed to workers.
   */
  @Secret(/^lm_[a-z0-9]{1,32}_[A-Za-z0-9_-]{43,256}$/, 'lm_<id>_<secret> (id 1-32 of [a-z0-9], secret at least 43 base64url characters: 32 random bytes)')
  LIVEMESH_ADMIN_TOKEN?: string = undefined;
}

/** Where services and their workers may come from and how the orchestrator runs them. */
export class RuntimeEnv {
  static readonly title = 'runtime';
  static readonly about = 'the orchestrator alone talks to the container engine; see "Choosing a runtime" below';

  /** process (local child processes), docker, swarm or k8s (one Deployment per service; docs/scaling.md, "Runtimes"). */
  @OneOf(['process', 'docker', 'swarm', 'k8s'])
  LIVEMESH_RUNTIME: 'process' | 'docker' | 'swarm' | 'k8s' = 'process';

  /** Seconds an idle worker container is kept before it is reclaimed. */
  @Seconds(0)
  IDLE_GRACE_SECONDS = 60;

  /**
   * Registries service images may come from, comma-separated hosts (`127.0.0.1:5000`, `ghcr.io`);
   * `local` allows references without a registry host, which the docker runtime takes from its own
   * engine and never pulls. LIVEMESH_WORKER_IMAGE is always allowed.
   */
  @ListOf(/^[A-Za-z0-9.:-]+$/, 'registry hosts (host[:port]) or local')
  LIVEMESH_IMAGE_REGISTRIES = 'local,127.0.0.1:5000,localhost:5000';

  /** Memory limit of one worker container, MiB. */
  @MiB(64)
  WORKER_MEMORY_MB = 1024;

  /** CPU limit of one worker container, thousandths of a CPU (1000 = one core). */
  @Count(100)
  WORKER_MILLICPUS = 1000;

  /** Process limit of one worker container (ffmpeg threads count). */
  @Count(16)
  WORKER_PIDS_LIMIT = 512;

  /**
   * Docker network of worker containers (docker and swarm runtimes): none (no network: the bus
   * through a unix socket the orchestrator relays, docs/security.md "Containers"), host, or a
   * network where NATS_URL's host name resolves (compose, an overlay in a cluster).
   */
  @Shaped(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a Docker network name')
  WORKER_NETWORK = 'none';
}

/** The Docker engine and the built-ins' image: the orchestrator's container runtimes, `livemesh service build`. */
export class DockerEnv {
  static readonly title = 'Docker';
  static readonly about = 'the docker and swarm runtimes (workers never get the engine), and the CLI\'s image commands';

  /** The Docker engine of the docker and swarm runtimes, as the docker CLI reads it: unix:///path or tcp://host:port. */
  @Shaped(/^(unix|tcp|http):\/\/\S+$/, 'unix:///var/run/docker.sock or tcp://host:2375')
  DOCKER_HOST = 'unix:///var/run/docker.sock';

  /** Image of services without their own (the built-ins) under the docker and swarm runtimes. */
  @Text()
  LIVEMESH_WORKER_IMAGE = 'livemesh/worker:0.1.0';
}

/** The k8s runtime: where its Deployments go and what KEDA's nats-jetstream trigger reads. */
export class KubernetesEnv {
  static readonly title = 'Kubernetes';
  static readonly about = 'the k8s runtime (docs/scaling.md, "Runtimes"); the orchestrator talks to the API server with a namespaced Role';

  /**
   * The Kubernetes namespace of the worker Deployments (k8s runtime); the orchestrator's Role is
   * granted there. Unset: the orchestrator pod's own namespace (its service account's), else `default`.
   */
  @Shaped(/^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a Kubernetes namespace name (DNS-1123 label, at most 63 characters)')
  LIVEMESH_K8S_NAMESPACE?: string = undefined;

  /** A kubeconfig file for the k8s runtime; unset: the in-cluster service account, else KUBECONFIG or ~/.kube/config. */
  @Path()
  LIVEMESH_KUBECONFIG?: string = undefined;

  /**
   * host:port of the NATS monitoring endpoint KEDA's nats-jetstream trigger reads (k8s runtime,
   * services with autoscale.keda). The official NATS Helm chart (release `nats` in namespace `nats`)
   * serves it on port 8222 of its headless Service; KEDA reaches a cluster's consumer leader as
   * `<pod>.<this host>`, which the headless Service resolves.
   */
  @Shaped(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'host:port, e.g. nats-headless.nats.svc.cluster.local:8222')
  LIVEMESH_K8S_NATS_MONITORING = 'nats-headless.nats.svc.cluster.local:8222';

  /**
   * The NATS account KEDA looks up in /jsz: `$G` without auth; with JWT auth, the livemesh account's
   * public key (unset: taken from NATS_ACCOUNT_SIGNER when set, else `$G`).
   */
  @Shaped(/^(\$G|A[A-Z2-7]{55}|[A-Za-z0-9_-]{1,64})$/, '$G, an account public key (A...) or an account name')
  LIVEMESH_K8S_NATS_ACCOUNT?: string = undefined;
}

/** How stages run segments: the orchestrator sizes consumers by them and hands them to container workers. */
export class StageEnv {
  static readonly title = 'stages';
  static readonly about = 'workers; the orchestrator too: it sizes each service\'s consumer by `STAGE_ACK_WAIT_MS` and `STAGE_MAX_ATTEMPTS` and hands all four to the workers it starts in containers';

  /** Wall-clock limit of one ffmpeg run, ms. */
  @Millis(1000)
  MEDIA_TIMEOUT_MS = 30_000;

  /** Deliveries of a segment before it goes to the dead-letter subject. */
  @Count(1, 20)
  STAGE_MAX_ATTEMPTS = 3;

  /** Segments one stage worker processes at once (each is one ffmpeg run). */
  @Count(1, 16)
  STAGE_CONCURRENCY = 1;

  /**
   * How long JetStream waits for a worker's ack (or in-progress signal) before it redelivers a
   * segment to another replica, ms. A worker that dies mid-segment costs this much delay, and
   * delivery skips a segment that is two target durations (4 s) late, so this plus the remaining
   * hops' processing must stay under that. A live worker sends in-progress acks every third of it,
   * so a short wait costs a few tiny messages, and a rare early redelivery is dropped by the
   * Nats-Msg-Id dedup.
   */
  @Millis(1000, 600_000)
  STAGE_ACK_WAIT_MS = 2_000;
}

/** Which stage code may run: the orchestrator checks it at registration, a worker at load. */
export class StagePolicyEnv {
  static readonly title = 'what services may run';
  static readonly about = 'the orchestrator at registration, workers at load (docs/security.md)';

  /**
   * The directory catalogue stage modules (`run.module`, LIVEMESH_STAGE_MODULE) must lie under,
   * symlinks resolved; relative to the working directory. The default is the project's examples/,
   * which holds only code that ships with livemesh, so the example service runs out of the box.
   */
  @Shaped(/^[^\u0000]{1,1024}$/, 'a directory path')
  LIVEMESH_STAGE_DIR = 'examples';

  /** Installed npm packages a stage module may name, comma-separated (exact names); empty: none. */
  @ListOf(/^(@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/, 'npm package names')
  LIVEMESH_STAGE_PACKAGES = '';
}

/** A worker's own settings, set by the operator (the same for every worker). */
export class WorkerEnv {
  static readonly title = 'worker';
  static readonly about = 'set by the operator for every worker; the process runtime passes its own environment on, the container runtimes only what a worker needs';

  /**
   * Longest a stage may work on one segment, ms: past it the segment's work is aborted
   * (its engine or ffmpeg killed) and the segment retried, then dead-lettered. A stage whose
   * process() never returns must not hold its segment, and a slot, forever.
   */
  @Millis(1000, 3_600_000)
  STAGE_TIMEOUT_MS = 120_000;

  /** Port of a stage worker's Prometheus /metrics listener; 0 keeps it off (several workers share a host). */
  @Port({ off: true })
  STAGE_METRICS_PORT = 0;

  /**
   * How a worker runs media transforms: `warm` keeps one long-lived libav engine
   * per concurrency slot (decoder and encoder set-up kept across segments, no process start per
   * segment), `cli` starts one ffmpeg per segment, `auto` takes warm when the engine binary is
   * there and says so once when it falls back to cli.
   */
  @OneOf(['auto', 'warm', 'cli'])
  STAGE_ENGINE: 'auto' | 'warm' | 'cli' = 'auto';

  /** The warm engine binary; empty = the one `npm run build` compiles into libs/media/engine/build. */
  @Path()
  ENGINE_PATH?: string = undefined;

  /** A warm engine process is replaced after this many segments (and after any error). */
  @Count(1, 1_000_000)
  ENGINE_RECYCLE_SEGMENTS = 500;
}

/**
 * What a runtime hands the worker it starts, never set by hand: the one place these names are
 * defined. The runtimes write them with `workerHandOver()` (below), the worker reads them here.
 */
export class WorkerHandOverEnv {
  static readonly title = 'hand-over to a worker';
  static readonly about = 'set by the runtime that starts a worker (`workerHandOver()`), never by hand; besides these it sets `NATS_CREDS` (the worker\'s own credential) and, for process workers, `LIVEMESH_PARENT_PID`';

  /** The service a worker process runs. */
  @Shaped(/^[A-Za-z0-9_-]{1,64}$/, 'a service name (1-64 of A-Z a-z 0-9 _ -)')
  // Initialised (to undefined) so Object.keys() lists it like every other variable.
  LIVEMESH_SERVICE?: string = undefined;

  /** Module to load the stage from instead of the built-ins (the service's `run.module`). */
  @Path()
  LIVEMESH_STAGE_MODULE?: string = undefined;

  /** A worker's id in `lm_workers` (the runtime sets one per replica); empty picks host-pid-random. */
  @Shaped(/^([A-Za-z0-9_-]{1,64})?$/, 'a worker id (1-64 of A-Z a-z 0-9 _ -)')
  LIVEMESH_WORKER_ID = '';

  /** The start instruction's parameters for this worker, a JSON object (`ctx.startParams`). */
  @JsonObject()
  LIVEMESH_START_PARAMS = '{}';

  /** The service's configuration from the catalogue, a JSON object (`ctx.config`). */
  @JsonObject()
  LIVEMESH_SERVICE_CONFIG = '{}';
}

/** The external programs media work runs. */
export class ToolsEnv {
  static readonly title = 'tools';
  static readonly about = 'name on PATH or absolute path';

  @Path()
  FFMPEG_PATH = 'ffmpeg';

  @Path()
  FFPROBE_PATH = 'ffprobe';
}

/** Segments as ingest cuts them and as they travel. */
export class SegmentEnv {
  static readonly title = 'segments';
  static readonly about = 'ingest cuts and publishes, workers publish, delivery starts its playlists\' target duration from `SEGMENT_SECONDS`; the orchestrator hands `INLINE_LIMIT_BYTES` to container workers';

  /** Target segment length in seconds (cut on the next key frame). */
  @Seconds(1, 10)
  SEGMENT_SECONDS = 2;

  /**
   * Segments above this many bytes travel through the object store (claim check). The connected
   * server's max_payload caps it: NATS defaults to 1 MiB, the nats-server `npm start` runs allows
   * 8 MiB, so a 2 s segment of 720p (1-2 MB) goes inline there, which is several times faster.
   */
  @Bytes(1024, 64 * 1024 * 1024)
  INLINE_LIMIT_BYTES = 8 * 1024 * 1024;
}

/** Publishing into the mesh: the orchestrator hands out the URLs and keys, ingest listens. */
export class PublishEnv {
  static readonly title = 'publishing';
  static readonly about = 'the orchestrator (publish URLs, SRT quotas, sealing SRT passphrases) and ingest (listeners, opening them): give both the same values';

  /** Ingest's RTMP listener. */
  @Port()
  RTMP_PORT = 1935;

  /**
   * UDP ports ingest may give SRT listeners, one per live stream, as `first-last` (e.g.
   * 9000-9099). Empty: no SRT listeners (RTMP and pulls only).
   */
  @Shaped(/^(\d{1,5}-\d{1,5})?$/, 'a port range like 9000-9099, or empty')
  SRT_PORT_RANGE = '';

  /**
   * SRT listeners at once. With SRT on (SRT_PORT_RANGE set) every published stream gets one, an
   * idle ffmpeg each, so this caps published streams too; the orchestrator also counts no more
   * than the range has ports.
   */
  @Count(0, 65_535)
  MAX_SRT_LISTENERS = 32;

  /**
   * The secret ingest opens published streams' sealed SRT passphrases with (docs/security.md,
   * "Stream keys"): 64 hex digits. Empty: `<LIVEMESH_DATA_DIR>/ingest.secret`, which the
   * orchestrator creates (mode 0600) when it is missing. Give the orchestrator and ingest the same.
   */
  @Secret(/^([0-9a-fA-F]{64})?$/, '64 hex digits (32 bytes), or empty')
  LIVEMESH_INGEST_SECRET = '';
}

/** Where outbound media connections may go. */
export class OutboundEnv {
  static readonly title = 'outbound addresses';
  static readonly about = 'the orchestrator (start request), ingest (pulls), delivery (RTMP push-out): give them the same value';

  /**
   * Address ranges pull sources and RTMP push-out targets may resolve to although they are
   * loopback, private, link-local or otherwise not public, as CIDRs, comma-separated
   * (`127.0.0.0/8,::1/128`). Empty: only public addresses.
   */
  @ListOf(/^[0-9A-Fa-f:.]+\/\d{1,3}$/, 'CIDR ranges, e.g. 127.0.0.0/8,::1/128')
  LIVEMESH_ALLOW_PRIVATE_SOURCES = '';
}

/** Ingest's own settings. */
export class IngestEnv {
  static readonly title = 'ingest';
  static readonly about = '`INGEST_HTTP_PORT` also `livemesh up` (it waits for the health check); see "Ingest\'s queue to the bus" below';

  /** Ingest's own HTTP (health, metrics). */
  @Port()
  INGEST_HTTP_PORT = 8081;

  /**
   * How long an RTMP publisher that dropped may reconnect from the same address and continue the
   * stream's timeline (node-media-server's publish grace), seconds. Later, it counts as a restart.
   */
  @Seconds(0, 600)
  RTMP_RESUME_GRACE_SECONDS = 30;

  /**
   * Segments one stream may have waiting for the bus in ingest (the one being sent included). While
   * NATS is unreachable they wait here; beyond this the oldest are dropped and reported as a
   * `segments-dropped` event. 20 segments of the default 2 s are 40 s of video: a nats-server
   * restart (JetStream re-reads its store) or a cluster leader election takes seconds to a few
   * tens of seconds, and the client reconnects every 500 ms, so a restart loses nothing.
   */
  @Count(2, 1000)
  INGEST_QUEUE_SEGMENTS = 20;

  /**
   * Bytes one stream may have waiting for the bus in ingest (held in memory). 64 MiB holds the 40 s
   * above up to about 12 Mbit/s, so for usual bitrates the segment bound is the one that acts; a
   * heavier stream drops sooner rather than taking the machine's memory. Ingest's worst case is
   * this times its live streams.
   */
  @Bytes(1024 * 1024, 1024 * 1024 * 1024)
  INGEST_QUEUE_BYTES = 64 * 1024 * 1024;
}

/** Delivery's own settings. */
export class DeliveryEnv {
  static readonly title = 'delivery';
  static readonly about = '`DELIVERY_PORT` also `livemesh up` (it waits for the health check)';

  /** Delivery's HLS origin. */
  @Port()
  DELIVERY_PORT = 8082;

  /** Segments in a live media playlist. */
  @Count(3, 1000)
  HLS_WINDOW = 6;

  /** How long delivery keeps an ended (or silent) stream's playlists and segments in memory, seconds. */
  @Seconds(0, 86_400)
  DELIVERY_KEEP_SECONDS = 300;

  /**
   * How often delivery checkpoints its playlists to `lm_delivery`, seconds (and at shutdown); a
   * restart goes on from the checkpoint instead of reading LM_OUT again. 0 = no checkpoints (every
   * boot reads all LM_OUT retains).
   */
  @Seconds(0, 3_600)
  DELIVERY_CHECKPOINT_SECONDS = 2;
}

/** The CLI's own settings (`livemesh up` included). */
export class CliEnv {
  static readonly title = 'CLI';
  static readonly about = '`LIVEMESH_TOKEN`: the token the CLI sends (unset: `<LIVEMESH_DATA_DIR>/admin.token`); `NATS_TLS_CERT`/`NATS_TLS_KEY`: the nats-server `livemesh up` starts, TLS on when both are set';

  /** The API token the CLI sends; unset: the one in `<LIVEMESH_DATA_DIR>/admin.token`. */
  @Secret(/^\S{1,512}$/, 'one word (a token as `livemesh token create` prints it)')
  LIVEMESH_TOKEN?: string = undefined;

  /** `livemesh up`: the certificate of the nats-server it starts (PEM); with NATS_TLS_KEY turns TLS on. */
  @Path()
  NATS_TLS_CERT?: string = undefined;

  /** `livemesh up`: the private key of NATS_TLS_CERT (PEM). */
  @Path()
  NATS_TLS_KEY?: string = undefined;
}

/**
 * The groups each process validates, and nothing else. `livemesh up` passes its environment on
 * to the apps it starts, which validate their own.
 */
export const PROCESS_GROUPS = {
  orchestrator: [CommonEnv, ServiceProcessEnv, LocalStateEnv, BusLimitsEnv, OutputRetentionEnv, OrchestratorEnv, ApiEnv, RuntimeEnv, DockerEnv, KubernetesEnv, StageEnv, StagePolicyEnv, SegmentEnv, PublishEnv, OutboundEnv],
  ingest: [CommonEnv, ServiceProcessEnv, LocalStateEnv, ToolsEnv, SegmentEnv, PublishEnv, OutboundEnv, IngestEnv],
  delivery: [CommonEnv, ServiceProcessEnv, ToolsEnv, SegmentEnv, OutputRetentionEnv, OutboundEnv, DeliveryEnv],
  worker: [CommonEnv, ServiceProcessEnv, ToolsEnv, SegmentEnv, StageEnv, StagePolicyEnv, WorkerEnv, WorkerHandOverEnv],
  cli: [CommonEnv, LocalStateEnv, ApiEnv, DockerEnv, ToolsEnv, IngestEnv, DeliveryEnv, CliEnv],
} as const;

export type ProcessName = keyof typeof PROCESS_GROUPS;
type Group = (typeof PROCESS_GROUPS)[ProcessName][number];
type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;

/** The settings one process reads: the groups PROCESS_GROUPS lists for it, flattened. */
export type EnvOf<P extends ProcessName> = UnionToIntersection<InstanceType<(typeof PROCESS_GROUPS)[P][number]>>;
export type OrchestratorSettings = EnvOf<'orchestrator'>;
export type IngestSettings = EnvOf<'ingest'>;
export type DeliverySettings = EnvOf<'delivery'>;
export type WorkerSettings = EnvOf<'worker'>;
export type CliSettings = EnvOf<'cli'>;
/** Every variable of every group: what a test that runs several processes in one gives them all. */
export type Env = UnionToIntersection<InstanceType<Group>>;
/** A variable's name. */
export type EnvName = keyof Env & string;

/** Every group, each once, in the order the table in docs/configuration.md lists them. */
export const ENV_GROUPS: readonly Group[] = [...new Set(Object.values(PROCESS_GROUPS).flat())];

/** Every variable livemesh reads. */
export const ENV_VARIABLES: readonly EnvName[] = ENV_GROUPS.flatMap((g) => Object.keys(new g()) as EnvName[]);

/** Nest's injection token for a process's validated settings (its type is that process's EnvOf). */
export const ENV = Symbol('livemesh environment');

function shown(name: string, raw: string | undefined): string {
  if (raw === undefined || raw === '') return `${name} (default)`;
  if (SECRET_VARIABLES.has(name)) return `${name} (value not shown)`;
  const v = raw.length > 60 ? `${raw.slice(0, 57)}...` : raw;
  return `${name}=${JSON.stringify(v)}`;
}

function load(what: string, groups: readonly Group[], source: Record<string, string | undefined>): object {
  const settings: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const group of groups) {
    const plain: Record<string, string> = {};
    for (const k of Object.keys(new group())) {
      const v = source[k];
      if (v !== undefined && v !== '') plain[k] = v;
    }
    const values = plainToInstance(group as new () => object, plain, { exposeDefaultValues: true });
    for (const e of validateSync(values)) {
      for (const problem of Object.values(e.constraints ?? {})) problems.push(`${shown(e.property, source[e.property])}: ${problem}`);
    }
    Object.assign(settings, values);
  }
  if (problems.length > 0) throw new ConfigError(`${what} environment is invalid`, problems);
  return settings;
}

/**
 * Reads and validates one process's settings once; throws ConfigError naming the process and, for
 * every bad variable, its name, its value (never a secret's) and what it must be.
 */
export function loadProcessEnv<P extends ProcessName>(process: P, source: Record<string, string | undefined> = globalThis.process.env): EnvOf<P> {
  return load(`the ${process}'s`, PROCESS_GROUPS[process], source) as EnvOf<P>;
}

/**
 * Every group at once: for tests and tools that run several processes from one environment.
 * A process validates only its own (loadProcessEnv).
 */
export function loadEnv(source: Record<string, string | undefined> = process.env): Env {
  return load('the', ENV_GROUPS, source) as Env;
}

/**
 * True when the variable was set explicitly (not defaulted). `livemesh up` starts its own
 * nats-server only when NATS_URL was not given.
 */
export function envWasSet(name: EnvName, source: Record<string, string | undefined> = process.env): boolean {
  const v = source[name];
  return v !== undefined && v !== '';
}

/** What a runtime tells the worker it starts. */
export interface WorkerHandOver {
  service: string;
  workerId: string;
  startParams: Record<string, unknown>;
  config: Record<string, unknown> | undefined;
  /** The service's `run.module`, when it has one. */
  stageModule?: string | undefined;
  /** The worker's own NATS credential, as the worker sees its path. */
  credsFile?: string | undefined;
  /** The supervising process's pid (the process runtime: a worker outliving it drains and exits). */
  parentPid?: number | undefined;
}

/** Environment a runtime passes to a worker: only names the worker reads (a typo does not compile). */
export type WorkerEnvironment = Partial<Record<keyof WorkerSettings & string, string>>;

/** The hand-over as the environment variables the worker reads (WorkerHandOverEnv and the few shared ones). */
export function workerHandOver(h: WorkerHandOver): WorkerEnvironment {
  return {
    LIVEMESH_SERVICE: h.service,
    LIVEMESH_WORKER_ID: h.workerId,
    LIVEMESH_START_PARAMS: JSON.stringify(h.startParams),
    LIVEMESH_SERVICE_CONFIG: JSON.stringify(h.config ?? {}),
    ...(h.stageModule ? { LIVEMESH_STAGE_MODULE: h.stageModule } : {}),
    ...(h.credsFile ? { NATS_CREDS: h.credsFile } : {}),
    ...(h.parentPid !== undefined ? { LIVEMESH_PARENT_PID: String(h.parentPid) } : {}),
  };
}

/** The table in docs/configuration.md's "Which process reads what", generated from PROCESS_GROUPS. */
export function configurationTable(): string {
  const processes = Object.keys(PROCESS_GROUPS) as ProcessName[];
  const rows = ENV_GROUPS.map((g) => {
    const defaults = new g() as Record<string, unknown>;
    const vars = Object.keys(defaults)
      .map((k) => (defaults[k] === undefined || defaults[k] === '' ? `\`${k}\`` : `\`${k}\` (${JSON.stringify(defaults[k])})`))
      .join(', ');
    const readBy = processes.filter((p) => (PROCESS_GROUPS[p] as readonly Group[]).includes(g)).join(', ');
    return `| ${g.title} | ${vars} | ${readBy} | ${g.about} |`;
  });
  return ['| group | variables (default) | read by | notes |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
