import 'reflect-metadata';
import { plainToInstance, Transform } from 'class-transformer';
import { IsIn, IsInt, IsJSON, IsOptional, IsString, Matches, Max, Min, validateSync } from 'class-validator';
import { ConfigError } from './errors.js';
import { describeValidationErrors } from './validate.js';

const toInt = ({ value }: { value: unknown }) => (typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value);

/**
 * Every environment variable livemesh reads, with its default. `.env.example` lists the same
 * variables; docs/configuration.md says what each does. process.env is read here and nowhere else.
 */
export class Env {
  /**
   * NATS server(s), comma-separated; or `unix:///path`, a socket that relays to the bus (what the
   * docker runtime gives workers in containers without a network).
   */
  @IsString()
  @Matches(/^((nats|tls|ws|wss):\/\/[^\s]+|unix:\/\/\/[^\s,]+)$/, { message: 'NATS_URL must look like nats://host:port (or unix:///path of a bus relay socket)' })
  NATS_URL = 'nats://127.0.0.1:4222';

  /**
   * A NATS credentials file (JWT and seed) this process connects with; empty: none. `livemesh up`
   * sets it for each process it starts, the orchestrator for each worker it starts.
   */
  @IsOptional()
  @IsString()
  NATS_CREDS?: string = undefined;

  /**
   * Orchestrator only: a file holding the livemesh NATS account and its signing key
   * (`{"account":"A...","signingKeySeed":"SA..."}`); when set, the orchestrator mints each worker
   * its own credential. `livemesh up` writes it for the nats-server it starts.
   */
  @IsOptional()
  @IsString()
  NATS_ACCOUNT_SIGNER?: string = undefined;

  /**
   * Replicas of every stream, consumer and bucket the orchestrator creates (its topology): 1 on a
   * single nats-server, 3 on a NATS cluster (JetStream allows 1 to 5; odd counts keep a quorum).
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(5)
  NATS_REPLICAS = 1;

  /** CA file that signed the NATS server's certificate: clients verify the server with it (TLS on). */
  @IsOptional()
  @IsString()
  NATS_TLS_CA?: string = undefined;

  /** `livemesh up`: the certificate of the nats-server it starts (PEM); with NATS_TLS_KEY turns TLS on. */
  @IsOptional()
  @IsString()
  NATS_TLS_CERT?: string = undefined;

  /** `livemesh up`: the private key of NATS_TLS_CERT (PEM). */
  @IsOptional()
  @IsString()
  NATS_TLS_KEY?: string = undefined;

  /** Address every HTTP and RTMP listener binds to. */
  @IsString()
  LIVEMESH_BIND = '127.0.0.1';

  /** Host name put into the URLs handed to publishers and viewers. */
  @IsString()
  LIVEMESH_PUBLIC_HOST = '127.0.0.1';

  /** Orchestrator HTTP (API, dashboard, /hls proxy). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(65535)
  HTTP_PORT = 8080;

  /** Ingest's RTMP listener. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(65535)
  RTMP_PORT = 1935;

  /** Ingest's own HTTP (health, metrics). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(65535)
  INGEST_HTTP_PORT = 8081;

  /** Delivery's HLS origin. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(65535)
  DELIVERY_PORT = 8082;

  /** Where the orchestrator proxies /hls to. */
  @IsString()
  DELIVERY_URL = 'http://127.0.0.1:8082';

  /**
   * The bootstrap admin API token, `lm_<id>_<secret>` with a secret of 32 random bytes in
   * base64url (orchestrator). Unset: the orchestrator reads (or, on first start, writes)
   * `<LIVEMESH_DATA_DIR>/admin.token`. Never passed to workers.
   */
  @IsOptional()
  @Matches(/^lm_[a-z0-9]{1,32}_[A-Za-z0-9_-]{43,256}$/, {
    message: 'LIVEMESH_ADMIN_TOKEN must look like lm_<id>_<secret> (id 1-32 of [a-z0-9], secret at least 43 base64url characters: 32 random bytes)',
  })
  LIVEMESH_ADMIN_TOKEN?: string = undefined;

  /** The API token the CLI sends; unset: the one in `<LIVEMESH_DATA_DIR>/admin.token` (CLI only). */
  @IsOptional()
  @Matches(/^\S{1,512}$/, { message: 'LIVEMESH_TOKEN must be one word (a token as `livemesh token create` prints it)' })
  LIVEMESH_TOKEN?: string = undefined;

  /**
   * Host names and addresses the orchestrator answers to, comma-separated, besides the loopback
   * names (localhost, 127.0.0.1, ::1), LIVEMESH_BIND and LIVEMESH_PUBLIC_HOST; `*` answers any
   * (behind a proxy that checks Host itself). Other Host headers get 421: a DNS-rebinding guard.
   */
  @IsString()
  @Matches(/^(\*|[A-Za-z0-9.:\[\]-]+(\s*,\s*[A-Za-z0-9.:\[\]-]+)*)?$/, { message: 'LIVEMESH_ALLOWED_HOSTS must be * or a comma list of host names or addresses' })
  LIVEMESH_ALLOWED_HOSTS = '';

  /** process (local child processes), docker or swarm. */
  @IsIn(['process', 'docker', 'swarm'])
  LIVEMESH_RUNTIME: 'process' | 'docker' | 'swarm' = 'process';

  /** Local state (nats-server data, temp files). */
  @IsString()
  LIVEMESH_DATA_DIR = '.livemesh';

  @IsIn(['error', 'warn', 'log', 'debug', 'verbose'])
  LOG_LEVEL: 'error' | 'warn' | 'log' | 'debug' | 'verbose' = 'log';

  /** Target segment length in seconds (cut on the next key frame). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10)
  SEGMENT_SECONDS = 2;

  /**
   * Segments above this many bytes travel through the object store (claim check). The connected
   * server's max_payload caps it: NATS defaults to 1 MiB, the nats-server `npm start` runs allows
   * 8 MiB, so a 2 s segment of 720p (1-2 MB) goes inline there, which is several times faster.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1024)
  @Max(64 * 1024 * 1024)
  INLINE_LIMIT_BYTES = 8 * 1024 * 1024;

  /** Segments in a live media playlist. */
  @Transform(toInt)
  @IsInt()
  @Min(3)
  @Max(1000)
  HLS_WINDOW = 6;

  /** How long the output subject keeps segments (time-shift window), seconds. */
  @Transform(toInt)
  @IsInt()
  @Min(10)
  OUTPUT_RETENTION_SECONDS = 600;

  /** Age after which LM_SEG drops a segment no hop took (it can no longer be live), seconds. */
  @Transform(toInt)
  @IsInt()
  @Min(60)
  @Max(86_400)
  SEGMENT_MAX_AGE_SECONDS = 600;

  /** Segments LM_SEG holds per stream and hop; the next publish for that stream and hop is refused. */
  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(100_000)
  SEGMENTS_PER_STREAM = 600;

  /**
   * Where LM_SEG keeps segments waiting for a hop: `file`, or `memory` (RAM of each replica: no
   * disk write per segment; measured faster on R3, docs/scaling.md). Memory survives the loss of
   * any one server of an R3 cluster, not a restart of all of them, nor of a single server (R1).
   * Applies when the orchestrator creates LM_SEG; an existing LM_SEG keeps its storage.
   */
  @IsIn(['file', 'memory'])
  SEGMENT_STORAGE: 'file' | 'memory' = 'file';

  /** LM_SEG's size limit, every stream together, bytes. */
  @Transform(toInt)
  @IsInt()
  @Min(64 * 1024 * 1024)
  SEGMENT_STORE_BYTES = 4 * 1024 ** 3;

  /** The object store's size limit (claim-checked segments, thumbnails), bytes. */
  @Transform(toInt)
  @IsInt()
  @Min(64 * 1024 * 1024)
  BLOB_STORE_BYTES = 2 * 1024 ** 3;

  /** Age after which a blob is removed, seconds (never less than SEGMENT_MAX_AGE_SECONDS and OUTPUT_RETENTION_SECONDS). */
  @Transform(toInt)
  @IsInt()
  @Min(60)
  BLOB_TTL_SECONDS = 3600;

  /** Wall-clock limit of one ffmpeg run, ms. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  MEDIA_TIMEOUT_MS = 30_000;

  /**
   * Longest a stage may work on one segment, ms (workers): past it the segment's work is aborted
   * (its engine or ffmpeg killed) and the segment retried, then dead-lettered. A stage whose
   * process() never returns must not hold its segment, and a slot, forever.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(3_600_000)
  STAGE_TIMEOUT_MS = 120_000;

  /** Deliveries of a segment before it goes to the dead-letter subject. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(20)
  STAGE_MAX_ATTEMPTS = 3;

  /** The service a worker process runs (worker only). */
  @IsOptional()
  @Matches(/^[A-Za-z0-9_-]{1,64}$/)
  // Initialised (to undefined) so Object.keys(new Env()) lists it like every other variable.
  LIVEMESH_SERVICE?: string = undefined;

  /** Module to load the stage from instead of the built-ins (worker only). */
  @IsOptional()
  @IsString()
  LIVEMESH_STAGE_MODULE?: string = undefined;

  /**
   * The directory catalogue stage modules (`run.module`, LIVEMESH_STAGE_MODULE) must lie under,
   * symlinks resolved; relative to the working directory. The default is the project's examples/,
   * which holds only code that ships with livemesh, so the example service runs out of the box.
   */
  @IsString()
  @Matches(/^[^\u0000]{1,1024}$/, { message: 'LIVEMESH_STAGE_DIR must be a directory path' })
  LIVEMESH_STAGE_DIR = 'examples';

  /** Installed npm packages a stage module may name, comma-separated (exact names); empty: none. */
  @IsString()
  @Matches(/^((@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*)?(\s*,\s*(@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*)*$/, {
    message: 'LIVEMESH_STAGE_PACKAGES must be a comma list of npm package names',
  })
  LIVEMESH_STAGE_PACKAGES = '';

  /**
   * Registries service images may come from, comma-separated hosts (`127.0.0.1:5000`, `ghcr.io`);
   * `local` allows references without a registry host, which the docker runtime takes from its own
   * engine and never pulls. LIVEMESH_WORKER_IMAGE is always allowed.
   */
  @IsString()
  @Matches(/^[A-Za-z0-9.:-]+(\s*,\s*[A-Za-z0-9.:-]+)*$/, { message: 'LIVEMESH_IMAGE_REGISTRIES must be a comma list of registry hosts (host[:port]) or local' })
  LIVEMESH_IMAGE_REGISTRIES = 'local,127.0.0.1:5000,localhost:5000';

  /**
   * Address ranges pull sources and RTMP push-out targets may resolve to although they are
   * loopback, private, link-local or otherwise not public, as CIDRs, comma-separated
   * (`127.0.0.0/8,::1/128`). Empty: only public addresses.
   */
  @IsString()
  @Matches(/^([0-9A-Fa-f:.]+\/\d{1,3}(\s*,\s*[0-9A-Fa-f:.]+\/\d{1,3})*)?$/, { message: 'LIVEMESH_ALLOW_PRIVATE_SOURCES must be a comma list of CIDR ranges, e.g. 127.0.0.0/8,::1/128' })
  LIVEMESH_ALLOW_PRIVATE_SOURCES = '';

  /**
   * The secret ingest opens published streams' sealed SRT passphrases with (docs/security.md,
   * "Stream keys"): 64 hex digits. Empty: `<LIVEMESH_DATA_DIR>/ingest.secret`, which the
   * orchestrator creates (mode 0600) when it is missing. Give the orchestrator and ingest the same.
   */
  @IsString()
  @Matches(/^([0-9a-fA-F]{64})?$/, { message: 'LIVEMESH_INGEST_SECRET must be 64 hex digits (32 bytes), or be empty' })
  LIVEMESH_INGEST_SECRET = '';

  /**
   * The secret signed playback URLs are made with (docs/security.md, "Signed playback"): 64 hex
   * digits. Empty: `<LIVEMESH_DATA_DIR>/playback.secret`, created (mode 0600) on first use.
   * Orchestrator only; give every orchestrator replica the same.
   */
  @IsString()
  @Matches(/^([0-9a-fA-F]{64})?$/, { message: 'LIVEMESH_PLAYBACK_SECRET must be 64 hex digits (32 bytes), or be empty' })
  LIVEMESH_PLAYBACK_SECRET = '';

  @IsString()
  FFMPEG_PATH = 'ffmpeg';

  @IsString()
  FFPROBE_PATH = 'ffprobe';

  /** Seconds an idle worker container is kept before it is reclaimed. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  IDLE_GRACE_SECONDS = 60;

  /** Port of a stage worker's Prometheus /metrics listener; 0 keeps it off (several workers share a host). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  STAGE_METRICS_PORT = 0;

  /**
   * How a worker runs media transforms (workers only): `warm` keeps one long-lived libav engine
   * per concurrency slot (decoder and encoder set-up kept across segments, no process start per
   * segment), `cli` starts one ffmpeg per segment, `auto` takes warm when the engine binary is
   * there and says so once when it falls back to cli.
   */
  @IsIn(['auto', 'warm', 'cli'])
  STAGE_ENGINE: 'auto' | 'warm' | 'cli' = 'auto';

  /** The warm engine binary; empty = the one `npm run build` compiles into libs/media/engine/build. */
  @IsOptional()
  @IsString()
  ENGINE_PATH?: string = undefined;

  /** A warm engine process is replaced after this many segments (and after any error). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  ENGINE_RECYCLE_SEGMENTS = 500;

  /** Segments one stage worker processes at once (each is one ffmpeg run). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(16)
  STAGE_CONCURRENCY = 1;

  /** Longest a stopping stream waits for its in-flight segments to leave the chain, seconds. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(300)
  STOP_DRAIN_SECONDS = 10;

  /**
   * Streams starting or live at once (orchestrator); one more start is answered 429 LM_QUOTA.
   * Each published stream holds an ingest segmenter (one ffmpeg) and its share of the chain:
   * 32 is far more than one machine processes in real time, yet keeps a flood of starts from
   * growing state and processes without bound.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100_000)
  MAX_LIVE_STREAMS = 32;

  /** Of those, streams whose source is a URL ingest pulls: each is an always-running ffmpeg and an outbound connection. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(100_000)
  MAX_PULLS = 8;

  /**
   * SRT listeners at once (orchestrator and ingest). With SRT on (SRT_PORT_RANGE set) every
   * published stream gets one, an idle ffmpeg each, so this caps published streams too; the
   * orchestrator also counts no more than the range has ports.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65_535)
  MAX_SRT_LISTENERS = 32;

  /**
   * Renditions one stream's chain may produce (the size of its ABR ladders); a start or chain
   * change asking for more is answered 429. Four is what the built-in ladder encodes within a
   * segment's time on one core.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(64)
  MAX_RENDITIONS_PER_STREAM = 4;

  /**
   * A live stream that has had no segment from its publisher (or pulled source) for this long is
   * ended and what it left in LM_SEG purged, seconds; 0 never ends one. 120 s outlasts an RTMP
   * reconnect within RTMP_RESUME_GRACE_SECONDS (30 s) plus ingest's longest segmenter back-off
   * (30 s) and its source-silence timeout (15 s), so a publisher that comes back is never cut
   * off, while a stream left behind (say across a restart) is gone within about two minutes.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(86_400)
  STREAM_IDLE_TIMEOUT_S = 120;

  /**
   * How long the record of an ended or failed stream is kept (with its chain, key and status
   * entries), seconds: long enough to read why a stream failed the next day; then it is deleted
   * so the buckets stay bounded.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(30 * 86_400)
  STREAM_RECORD_TTL_S = 86_400;

  /** How long delivery keeps an ended (or silent) stream's playlists and segments in memory, seconds. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(86_400)
  DELIVERY_KEEP_SECONDS = 300;

  /**
   * How often delivery checkpoints its playlists to `lm_delivery`, seconds (and at shutdown); a
   * restart goes on from the checkpoint instead of reading LM_OUT again. 0 = no checkpoints (every
   * boot reads all LM_OUT retains).
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(3_600)
  DELIVERY_CHECKPOINT_SECONDS = 2;

  /** A worker's id in `lm_workers` (the process runtime sets one per replica); empty picks host-pid-random. */
  @Matches(/^([A-Za-z0-9_-]{1,64})?$/)
  LIVEMESH_WORKER_ID = '';

  /**
   * The pid of the supervisor that started this process (the process runtime sets its own for
   * workers, `livemesh up` its own for the apps); 0 = none. A process whose parent is gone drains
   * and exits as on SIGTERM, so a killed supervisor leaves no orphans.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  LIVEMESH_PARENT_PID = 0;

  /** The start instruction's parameters for this worker, a JSON object (the container runtime sets it). */
  @IsJSON({ message: 'LIVEMESH_START_PARAMS must be JSON' })
  @Matches(/^\s*\{[\s\S]*\}\s*$/, { message: 'LIVEMESH_START_PARAMS must be a JSON object' })
  LIVEMESH_START_PARAMS = '{}';

  /** The service's configuration from the catalogue, a JSON object (the container runtime sets it). */
  @IsJSON({ message: 'LIVEMESH_SERVICE_CONFIG must be JSON' })
  @Matches(/^\s*\{[\s\S]*\}\s*$/, { message: 'LIVEMESH_SERVICE_CONFIG must be a JSON object' })
  LIVEMESH_SERVICE_CONFIG = '{}';

  /**
   * UDP ports ingest may give SRT listeners, one per live stream, as `first-last` (e.g.
   * 9000-9099). Empty: no SRT listeners (RTMP and pulls only).
   */
  @IsString()
  @Matches(/^(\d{1,5}-\d{1,5})?$/, { message: 'SRT_PORT_RANGE must look like 9000-9099, or be empty' })
  SRT_PORT_RANGE = '';

  /**
   * How long an RTMP publisher that dropped may reconnect from the same address and continue the
   * stream's timeline (node-media-server's publish grace), seconds. Later, it counts as a restart.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(600)
  RTMP_RESUME_GRACE_SECONDS = 30;

  /**
   * Segments one stream may have waiting for the bus in ingest (the one being sent included). While
   * NATS is unreachable they wait here; beyond this the oldest are dropped and reported as a
   * `segments-dropped` event. 20 segments of the default 2 s are 40 s of video: a nats-server
   * restart (JetStream re-reads its store) or a cluster leader election takes seconds to a few
   * tens of seconds, and the client reconnects every 500 ms, so a restart loses nothing.
   */
  @Transform(toInt)
  @IsInt()
  @Min(2)
  @Max(1000)
  INGEST_QUEUE_SEGMENTS = 20;

  /**
   * Bytes one stream may have waiting for the bus in ingest (held in memory). 64 MiB holds the 40 s
   * above up to about 12 Mbit/s, so for usual bitrates the segment bound is the one that acts; a
   * heavier stream drops sooner rather than taking the machine's memory. Ingest's worst case is
   * this times its live streams.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1024 * 1024)
  @Max(1024 * 1024 * 1024)
  INGEST_QUEUE_BYTES = 64 * 1024 * 1024;

  /** The Docker engine of the docker and swarm runtimes, as the docker CLI reads it: unix:///path or tcp://host:port. */
  @Matches(/^(unix|tcp|http):\/\/\S+$/, { message: 'DOCKER_HOST must look like unix:///var/run/docker.sock or tcp://host:2375' })
  DOCKER_HOST = 'unix:///var/run/docker.sock';

  /** Image of services without their own (the built-ins) under the docker and swarm runtimes. */
  @IsString()
  LIVEMESH_WORKER_IMAGE = 'livemesh/worker:0.1.0';

  /** Memory limit of one worker container, MiB. */
  @Transform(toInt)
  @IsInt()
  @Min(64)
  WORKER_MEMORY_MB = 1024;

  /** CPU limit of one worker container, thousandths of a CPU (1000 = one core). */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  WORKER_MILLICPUS = 1000;

  /** Process limit of one worker container (ffmpeg threads count). */
  @Transform(toInt)
  @IsInt()
  @Min(16)
  WORKER_PIDS_LIMIT = 512;

  /**
   * Docker network of worker containers (docker and swarm runtimes): none (no network: the bus
   * through a unix socket the orchestrator relays, docs/security.md "Containers"), host, or a
   * network where NATS_URL's host name resolves (compose, an overlay in a cluster).
   */
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { message: 'WORKER_NETWORK must be a Docker network name' })
  WORKER_NETWORK = 'none';

  /**
   * How long JetStream waits for a worker's ack (or in-progress signal) before it redelivers a
   * segment to another replica, ms. A worker that dies mid-segment costs this much delay, and
   * delivery skips a segment that is two target durations (4 s) late, so this plus the remaining
   * hops' processing must stay under that. A live worker sends in-progress acks every third of it,
   * so a short wait costs a few tiny messages, and a rare early redelivery is dropped by the
   * Nats-Msg-Id dedup.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(600_000)
  STAGE_ACK_WAIT_MS = 2_000;
}

/** Reads and validates the environment once; throws ConfigError listing every bad variable. */
export function loadEnv(source: Record<string, string | undefined> = process.env): Env {
  const known = Object.keys(new Env());
  const plain: Record<string, string> = {};
  for (const k of known) {
    const v = source[k];
    if (v !== undefined && v !== '') plain[k] = v;
  }
  const env = plainToInstance(Env, plain, { exposeDefaultValues: true });
  const errors = validateSync(env);
  if (errors.length > 0) throw new ConfigError('environment is invalid', describeValidationErrors(errors));
  return env;
}

/**
 * True when the variable was set explicitly (not defaulted). `livemesh up` starts its own
 * nats-server only when NATS_URL was not given.
 */
export function envWasSet(name: keyof Env, source: Record<string, string | undefined> = process.env): boolean {
  const v = source[name];
  return v !== undefined && v !== '';
}
