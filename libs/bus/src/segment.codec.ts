import {
  BadSegmentError,
  SEGMENT_HEADERS as H,
  SegmentMeta,
  ValidationFailedError,
  validateMessage,
} from '@livemesh/contracts';
import type { BusHeaders, HeaderValues } from './bus.types.js';

/** Writes a segment's metadata as message headers (plus the dedup id). */
export function encodeSegmentHeaders(meta: SegmentMeta, msgId: string, extra: HeaderValues = {}): HeaderValues {
  const values: HeaderValues = {};
  const h = { set: (k: string, v: string) => (values[k] = v) };
  h.set(H.msgId, msgId);
  h.set(H.streamId, meta.streamId);
  h.set(H.seq, String(meta.seq));
  h.set(H.hop, String(meta.hop));
  h.set(H.rendition, meta.rendition);
  h.set(H.pts, String(meta.pts));
  h.set(H.duration, String(meta.duration));
  h.set(H.ingestTime, String(meta.ingestTime));
  h.set(H.epoch, String(meta.epoch));
  h.set(H.chainVersion, String(meta.chainVersion));
  if (meta.blob) h.set(H.blob, meta.blob);
  if (meta.transfer && Object.keys(meta.transfer).length > 0) h.set(H.transfer, JSON.stringify(meta.transfer));
  if (meta.traceparent) h.set(H.traceparent, meta.traceparent);
  if (meta.gap) h.set(H.gap, meta.gap);
  for (const [k, v] of Object.entries(extra)) h.set(k, v);
  return values;
}

const num = (h: BusHeaders, name: string): number | undefined => {
  const v = h.get(name);
  return v === '' || v === undefined ? undefined : Number(v);
};

/** Reads and validates segment metadata from headers; throws BadSegmentError naming what is wrong. */
export function decodeSegmentHeaders(h: BusHeaders | undefined): SegmentMeta {
  if (!h) throw new BadSegmentError('segment message has no headers');
  let transfer: unknown;
  const rawTransfer = h.get(H.transfer);
  if (rawTransfer) {
    try {
      transfer = JSON.parse(rawTransfer);
    } catch (cause) {
      throw new BadSegmentError(`header ${H.transfer} is not JSON`, { cause });
    }
  }
  const plain: Record<string, unknown> = {
    streamId: h.get(H.streamId),
    seq: num(h, H.seq),
    hop: num(h, H.hop),
    rendition: h.get(H.rendition),
    pts: num(h, H.pts),
    duration: num(h, H.duration),
    ingestTime: num(h, H.ingestTime),
    epoch: num(h, H.epoch),
    chainVersion: num(h, H.chainVersion),
  };
  if (h.get(H.blob)) plain.blob = h.get(H.blob);
  if (transfer !== undefined) plain.transfer = transfer;
  if (h.get(H.traceparent)) plain.traceparent = h.get(H.traceparent);
  if (h.has(H.gap)) plain.gap = h.get(H.gap);
  try {
    return validateMessage(SegmentMeta, plain, 'segment headers');
  } catch (e) {
    if (e instanceof ValidationFailedError) throw new BadSegmentError(e.message, { cause: e });
    throw e;
  }
}
