/**
 * What each livemesh component may publish and subscribe to on NATS (docs/security.md, "NATS
 * credentials"). Pure: the orchestrator and `livemesh up` put these into the user JWT they mint
 * for a component, and the server enforces them. Everything not allowed here is refused.
 *
 * JetStream is driven by requests on `$JS.API.<verb>.<stream>[.<consumer>]` subjects, acks on
 * `$JS.ACK.<stream>.<consumer>.>` and KV / object store writes on `$KV.<bucket>.<key>` and
 * `$O.<bucket>.>`; a reply comes back on the requester's inbox, which is a prefix of its own
 * (nats.js `inboxPrefix`), so no component can read another's replies.
 */
import { BUCKETS, STREAMS, assertToken, consumers, subjects } from './subjects.js';

/** Stream of issued one-time stream keys (`lm.keys.issued.>`), readable by the platform only. */
export const KEYS_ISSUED_STREAM = STREAMS.keys;

/** Who connects. */
export type NatsIdentity =
  | { role: 'orchestrator' }
  | { role: 'ingest' }
  | { role: 'delivery' }
  | { role: 'platform' }
  | { role: 'worker'; service: string; workerId: string }
  /** Every replica of one service (swarm: Swarm starts the tasks, so they share one credential): heartbeats under `<service>.*`. */
  | { role: 'worker'; service: string; workerId?: undefined };

export interface NatsPermissions {
  /** undefined: no restriction (the orchestrator). */
  pub?: { allow: string[] };
  sub?: { allow: string[] };
}

/** The inbox prefix of an identity: its replies arrive under `<prefix>.>`, which only it may subscribe to. */
export function natsInboxPrefix(id: NatsIdentity): string {
  switch (id.role) {
    case 'worker':
      return id.workerId === undefined
        ? `_LM_INBOX.workers.${assertToken('service', id.service)}`
        : `_LM_INBOX.worker.${assertToken('service', id.service)}.${assertToken('worker id', id.workerId)}`;
    default:
      return `_LM_INBOX.${id.role}`;
  }
}

/** The user name put into the credential (shown by the server's monitoring). */
export function natsUserName(id: NatsIdentity): string {
  if (id.role !== 'worker') return id.role;
  return id.workerId === undefined ? `workers.${id.service}` : `worker.${id.service}.${id.workerId}`;
}

const api = (verb: string, stream: string, rest?: string) => `$JS.API.${verb}.${stream}${rest === undefined ? '' : `.${rest}`}`;
const kvStream = (bucket: string) => `KV_${bucket}`;
const objStream = (bucket: string) => `OBJ_${bucket}`;

/**
 * Reading a stream without a durable consumer of its own: info, stored messages by sequence or
 * subject, and ordered (ephemeral) consumers, which KV get/watch/keys and object store reads use.
 */
function readStream(stream: string): string[] {
  return [
    api('STREAM.INFO', stream),
    api('STREAM.MSG.GET', stream),
    api('DIRECT.GET', stream),
    api('DIRECT.GET', stream, '>'),
    // Ephemeral consumers: the pre-2.9 and the 2.9 create request.
    api('CONSUMER.CREATE', stream),
    api('CONSUMER.CREATE', stream, '>'),
    api('CONSUMER.INFO', stream, '>'),
    api('CONSUMER.MSG.NEXT', stream, '>'),
    api('CONSUMER.DELETE', stream, '>'),
  ];
}

function readKv(bucket: string): string[] {
  return readStream(kvStream(bucket));
}

/** Writes to keys of a KV bucket matching `keys` (a subject pattern), plus opening the bucket. */
function writeKv(bucket: string, keys: string): string[] {
  return [api('STREAM.INFO', kvStream(bucket)), `$KV.${bucket}.${keys}`];
}

/** An object store, read and write (a put replaces chunks with a purge; a delete is a purge). */
function objectStore(bucket: string): string[] {
  return [...readStream(objStream(bucket)), api('STREAM.PURGE', objStream(bucket)), `$O.${bucket}.>`];
}

/** Pulling one existing durable consumer, acking what it hands out and reading its state; no create or delete. */
function pullDurable(stream: string, durable: string): string[] {
  return [api('CONSUMER.INFO', stream, durable), api('CONSUMER.MSG.NEXT', stream, durable), `$JS.ACK.${stream}.${durable}.>`];
}

/** Every component asks the server for its account's JetStream info when it connects. */
const COMMON = ['$JS.API.INFO'];

/** The permissions of one component (see the table in docs/security.md). */
export function natsPermissions(id: NatsIdentity): NatsPermissions {
  if (id.role === 'orchestrator') return {};
  const inbox = [`${natsInboxPrefix(id)}.>`];
  const of = (pub: string[], sub: string[] = []): NatsPermissions => ({
    pub: { allow: [...COMMON, ...pub] },
    sub: { allow: [...inbox, ...sub] },
  });
  switch (id.role) {
    case 'worker': {
      const service = assertToken('service', id.service);
      // A service-wide credential writes the heartbeat of any one replica of the service, no other service's.
      const workerId = id.workerId === undefined ? '*' : assertToken('worker id', id.workerId);
      return of([
        ...pullDurable(STREAMS.segments, consumers.service(service)),
        subjects.allSegments,
        subjects.allOutput,
        `lm.dlq.${service}.>`,
        subjects.streamEvents(),
        ...readKv(BUCKETS.chains),
        ...writeKv(BUCKETS.workers, `${service}.${workerId}`),
        ...readKv(BUCKETS.carry),
        ...writeKv(BUCKETS.carry, '>'),
        ...objectStore(BUCKETS.blobs),
        ...objectStore(BUCKETS.outputBlobs),
      ]);
    }
    case 'ingest':
      return of([
        subjects.allSegments,
        subjects.streamEvents(),
        ...readKv(BUCKETS.chains),
        ...readKv(BUCKETS.streams),
        ...readKv(BUCKETS.keys),
        ...readKv(BUCKETS.ingest),
        ...writeKv(BUCKETS.ingest, '>'),
        ...readKv(BUCKETS.status),
        ...writeKv(BUCKETS.status, '*.ingest'),
        ...objectStore(BUCKETS.blobs),
      ]);
    case 'delivery':
      return of([
        subjects.streamEvents(),
        ...readStream(STREAMS.output),
        ...readStream(STREAMS.events),
        ...readKv(BUCKETS.streams),
        ...readKv(BUCKETS.delivery),
        ...writeKv(BUCKETS.delivery, '>'),
        ...readKv(BUCKETS.status),
        ...writeKv(BUCKETS.status, '*.delivery'),
        ...objectStore(BUCKETS.blobs),
        ...objectStore(BUCKETS.outputBlobs),
      ]);
    case 'platform':
      return of([
        subjects.platformAll,
        // The one-time keys of streams it started by event: its own consumers on LM_KEYS.
        ...readStream(KEYS_ISSUED_STREAM),
        `$JS.API.CONSUMER.DURABLE.CREATE.${KEYS_ISSUED_STREAM}.>`,
        `$JS.ACK.${KEYS_ISSUED_STREAM}.>`,
      ]);
  }
}

/** Whether NATS subject `subject` matches `pattern` (`*` one token, `>` the rest), as the server judges a permission. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/** Whether `perms` let a client publish (`pub`) or subscribe (`sub`) to `subject`. */
export function natsAllows(perms: NatsPermissions, kind: 'pub' | 'sub', subject: string): boolean {
  const list = perms[kind];
  return list === undefined || list.allow.some((p) => subjectMatches(p, subject));
}
