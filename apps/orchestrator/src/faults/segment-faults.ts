import { decodeSegmentHeaders, type ConsumerState, type MaxDeliveriesAdvisory, type StoredMsg } from '@livemesh/bus';
import {
  STREAMS,
  SEGMENT_HEADERS,
  WorkerCrashedError,
  parseSegmentSubject,
  segmentMsgId,
  serviceOfConsumer,
  subjects,
  type SegmentMeta,
  type StreamEvent,
} from '@livemesh/contracts';

/** Why an advisory or the message it names is not acted on (logged once, never retried). */
export class FaultRefused extends Error {}

/**
 * The service whose consumer gave a segment up, from an advisory as it came: it must be the
 * server's max-deliveries advisory, about LM_SEG, from a service consumer (`svc_<service>`),
 * published on the subject that names that stream and consumer.
 */
export function serviceOfAdvisory(subject: string, advisory: MaxDeliveriesAdvisory | undefined): string {
  if (!advisory) throw new FaultRefused('not a max-deliveries advisory');
  if (advisory.stream !== STREAMS.segments) throw new FaultRefused(`about stream ${JSON.stringify(advisory.stream)}, not ${STREAMS.segments}`);
  const service = serviceOfConsumer(advisory.consumer);
  if (!service) throw new FaultRefused(`consumer ${JSON.stringify(advisory.consumer)} is not a service consumer`);
  if (subject !== subjects.maxDeliveriesAdvisory(STREAMS.segments, advisory.consumer)) throw new FaultRefused(`came on ${subject}, which does not name consumer ${advisory.consumer}`);
  return service;
}

/**
 * Checks an advisory against its consumer as the server keeps it: a message the consumer never
 * delivered, or fewer deliveries than its max_deliver, cannot have run out of attempts (a forged
 * advisory naming a segment that is being worked on right now).
 */
export function checkAgainstConsumer(advisory: MaxDeliveriesAdvisory, consumer: ConsumerState | undefined): void {
  if (!consumer) throw new FaultRefused(`consumer ${advisory.consumer} does not exist`);
  if (advisory.streamSeq > consumer.deliveredSeq) throw new FaultRefused(`seq ${advisory.streamSeq} was never delivered by ${advisory.consumer} (last delivered ${consumer.deliveredSeq})`);
  if (consumer.maxDeliver > 0 && advisory.deliveries < consumer.maxDeliver) {
    throw new FaultRefused(`${advisory.deliveries} deliveries is below ${advisory.consumer}'s max_deliver ${consumer.maxDeliver}`);
  }
}

/** The segment a stored LM_SEG message holds, when it is one of `service`'s and its headers agree with its subject. */
export function segmentOf(service: string, stored: Pick<StoredMsg, 'subject' | 'headers' | 'seq'>): { meta: SegmentMeta; msgId: string } {
  const route = parseSegmentSubject(stored.subject);
  if (!route || route.service !== service) throw new FaultRefused(`LM_SEG seq ${stored.seq} is on ${stored.subject}, not under ${subjects.serviceFilter(service)}`);
  let meta: SegmentMeta;
  try {
    meta = decodeSegmentHeaders(stored.headers);
  } catch (e) {
    throw new FaultRefused(`LM_SEG seq ${stored.seq} on ${stored.subject} is not a segment: ${(e as Error).message}`);
  }
  if (meta.streamId !== route.streamId || meta.hop !== route.hop) {
    throw new FaultRefused(`LM_SEG seq ${stored.seq}: headers say stream ${meta.streamId} hop ${meta.hop} but the subject is ${stored.subject}`);
  }
  const msgId = stored.headers?.get(SEGMENT_HEADERS.msgId) || segmentMsgId(meta);
  return { meta, msgId };
}

/** The `Lm-Error` of a segment whose worker died on every attempt (one line, printable ASCII). */
export function crashReason(service: string, deliveries: number): string {
  const err = new WorkerCrashedError(`delivered ${deliveries} times to ${service}, never acknowledged: the worker died on every attempt`);
  return `${err.code}: ${err.message}`;
}

/** The `dead-letter` status event of such a segment. */
export function crashEvent(service: string, meta: SegmentMeta, deliveries: number, at = new Date()): StreamEvent {
  return {
    streamId: meta.streamId,
    kind: 'dead-letter',
    at: at.toISOString(),
    message: crashReason(service, deliveries),
    service,
    hop: meta.hop,
    seq: meta.seq,
    data: { code: new WorkerCrashedError('').code, attempts: deliveries },
  };
}
