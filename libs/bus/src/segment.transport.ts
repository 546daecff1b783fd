import { BadSegmentError, blobNames, segmentMsgId, type Segment, type SegmentMeta } from '@livemesh/contracts';
import type { Bus } from './bus.connection.js';
import type { BusMsg, PublishAck } from './bus.types.js';
import { decodeSegmentHeaders, encodeSegmentHeaders } from './segment.codec.js';

export interface PublishSegmentOptions {
  /**
   * Payloads above this many bytes go to the object store and the message carries the name. The
   * connected server's max_payload caps it (less room for headers), so a limit set higher than
   * what an operator's NATS accepts still publishes.
   */
  inlineLimit: number;
  /** `seg` for a hop's input, `out` for a finished segment (distinct dedup ids). */
  kind?: 'seg' | 'out';
  /** Extra headers (e.g. Lm-Error on a dead letter). */
  extraHeaders?: Record<string, string>;
}

/**
 * Publishes a segment and waits for JetStream to store it. The message id makes a retry after a
 * crash harmless: the server drops the duplicate inside its window.
 */
export async function publishSegment(
  bus: Bus,
  subject: string,
  segment: Segment,
  opts: PublishSegmentOptions,
): Promise<PublishAck> {
  const kind = opts.kind ?? 'seg';
  const msgId = segmentMsgId(segment.meta, kind);
  let meta: SegmentMeta = { ...segment.meta, blob: undefined };
  let payload = segment.data;
  if (payload.byteLength > inlineCap(bus.maxPayload, opts.inlineLimit)) {
    // Claim check: the blob's name is derived from the message id, so a retried publish reuses it.
    // An output's blob goes to the store whose TTL follows LM_OUT's retention (blobNames.storeOf).
    const name = kind === 'out' ? blobNames.output(msgId) : blobNames.segment(msgId);
    await bus.putBlob(name, payload);
    meta = { ...meta, blob: name };
    payload = new Uint8Array(0);
  }
  return bus.publish(subject, payload, { msgId, headers: encodeSegmentHeaders(meta, msgId, opts.extraHeaders) });
}

/** Room left in a message for the segment headers and the protocol line. */
const HEADER_ROOM = 64 * 1024;

/** The largest payload that goes inline: the configured limit, within what the server accepts. */
export function inlineCap(serverMax: number | undefined, configured: number): number {
  return serverMax ? Math.min(configured, serverMax - HEADER_ROOM) : configured;
}

/**
 * Whether a segment's claim check (`Lm-Blob`) names the segment's own blob: the name
 * publishSegment derives from its stream, hop, seq and rendition (`seg/seg.<id>.<hop>.<seq>.<r>`
 * or `out/out.<...>`). Anything else is a forged header that would make its reader read, and
 * delete, somebody else's blob.
 */
export function isOwnBlob(meta: Pick<SegmentMeta, 'streamId' | 'hop' | 'seq' | 'rendition' | 'blob'>): boolean {
  return meta.blob === blobNames.segment(segmentMsgId(meta, 'seg')) || meta.blob === blobNames.output(segmentMsgId(meta, 'out'));
}

/**
 * Reads a segment off a JetStream message: validated headers, payload inline or from the object
 * store. `decoded`: the headers already decoded and validated from this very message (a caller
 * that looked at them first), so they are not decoded twice.
 */
export async function readSegment(bus: Bus, msg: Pick<BusMsg, 'headers' | 'data'>, decoded?: SegmentMeta): Promise<Segment> {
  const meta = decoded ?? decodeSegmentHeaders(msg.headers);
  if (!meta.blob) return { meta, data: msg.data };
  if (!isOwnBlob(meta)) {
    throw new BadSegmentError(`segment ${meta.streamId}#${meta.seq} hop ${meta.hop}: blob ${meta.blob} is not this segment's own (expected ${blobNames.segment(segmentMsgId(meta, 'seg'))}): refused`);
  }
  const data = await bus.getBlob(meta.blob);
  if (!data) throw new BadSegmentError(`segment ${meta.streamId}#${meta.seq}: blob ${meta.blob} is missing from the object store`);
  return { meta, data };
}

/** Deletes a consumed segment's blob, if it had one; the store's TTL catches what this misses. */
export async function releaseSegmentBlob(bus: Bus, meta: SegmentMeta): Promise<void> {
  if (!meta.blob || !isOwnBlob(meta)) return;
  await bus.deleteBlob(meta.blob).catch(() => undefined);
}

