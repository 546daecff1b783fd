import { EngineCrashedError, ValidationFailedError } from '@livemesh/contracts';
import { MAX_HEADER_BYTES, ResponseReader, encodeRequestPrefix, requestHeader } from './warm.engine.js';

function response(header: object | string, payload = Buffer.alloc(0)): Buffer {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  return Buffer.concat([len(h.length), h, len(payload.length), payload]);
}

const LIMITS = { maxWidth: 1920, maxHeight: 1080 };

describe('requestHeader', () => {
  it('carries the encode settings and limits as flat JSON the engine parses', () => {
    const h = JSON.parse(requestHeader({ videoFilter: 'scale=854:480', video: { preset: 'veryfast', bitrateKbps: 1200 }, audio: 'copy' }, LIMITS));
    expect(h).toEqual({ op: 'transform', videoFilter: 'scale=854:480', video: { preset: 'veryfast', bitrateKbps: 1200 }, audio: 'copy', maxWidth: 1920, maxHeight: 1080 });
    expect(JSON.parse(requestHeader({ video: 'copy', audio: 'copy' }, LIMITS)).videoFilter).toBeNull();
  });

  it('refuses what segmentStageArgs refuses', () => {
    expect(() => requestHeader({ videoFilter: 'null', video: 'copy', audio: 'copy' }, LIMITS)).toThrow(ValidationFailedError);
    expect(() => requestHeader({ video: { crf: 99 }, audio: 'copy' }, LIMITS)).toThrow(/crf/);
  });
});

describe('encodeRequestPrefix', () => {
  it('writes u32le header length, header, u32le payload length', () => {
    const p = encodeRequestPrefix('{"a":1}', 300);
    expect(p.readUInt32LE(0)).toBe(7);
    expect(p.subarray(4, 11).toString()).toBe('{"a":1}');
    expect(p.readUInt32LE(11)).toBe(300);
    expect(p.length).toBe(15);
  });

  it('refuses a header the engine would refuse', () => {
    expect(() => encodeRequestPrefix('x'.repeat(MAX_HEADER_BYTES + 1), 0)).toThrow(ValidationFailedError);
  });
});

describe('ResponseReader', () => {
  const ok = { ok: true, videoFrames: 50, audioPackets: 94 };

  it('reassembles a response split at every byte', () => {
    const bytes = response(ok, Buffer.from('payload!'));
    const r = new ResponseReader();
    const got = [...bytes].flatMap((b) => r.push(Buffer.from([b])));
    expect(got).toHaveLength(1);
    expect(got[0]!.header).toEqual(ok);
    expect(got[0]!.payload.toString()).toBe('payload!');
    expect(r.idle).toBe(true);
  });

  it('returns two responses from one chunk, including an error with no payload', () => {
    const err = { ok: false, code: 'LM_MEDIA_INPUT', message: 'truncated' };
    const got = new ResponseReader().push(Buffer.concat([response(err), response(ok, Buffer.from('x'))]));
    expect(got.map((g) => g.header)).toEqual([err, ok]);
  });

  it.each([
    ['a zero header length', Buffer.from([0, 0, 0, 0])],
    ['a header length above the bound', Buffer.from([0xff, 0xff, 0xff, 0x7f])],
    ['a header that is not JSON', response('not json')],
    ['a header of the wrong shape', response({ ok: true })],
    ['an unknown error code', response({ ok: false, code: 'LM_OTHER', message: '' })],
  ])('refuses %s as a crashed engine', (_what, bytes) => {
    expect(() => new ResponseReader().push(bytes)).toThrow(EngineCrashedError);
  });

  it('refuses a payload above its bound before buffering it', () => {
    const head = response(ok).subarray(0, -4);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(2048);
    expect(() => new ResponseReader(1024).push(Buffer.concat([head, len]))).toThrow(/above 1024/);
  });
});
