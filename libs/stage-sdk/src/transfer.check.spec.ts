import { BadSegmentError, ValidationFailedError } from '@livemesh/contracts';
import { checkTransferIn, checkTransferOut } from './transfer.check.js';

const cuts = { type: 'array', items: { type: 'number', minimum: 0 } };
const reader = { name: 'transcode', transfer: { reads: { sceneCuts: { schema: cuts }, size: { schema: { type: 'integer' }, required: true } } } };
const emitter = { name: 'detect', transfer: { emits: { sceneCuts: cuts } } };
const bytes = new Uint8Array([0x47]);

function thrown(fn: () => void): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('checkTransferIn', () => {
  it('passes what the stage reads when it fits, and ignores what it does not read', () => {
    expect(() => checkTransferIn(reader, { size: 4, sceneCuts: [1.5], other: 'x' })).not.toThrow();
    expect(() => checkTransferIn(reader, { size: 4 })).not.toThrow();
    expect(() => checkTransferIn({ name: 'plain' }, undefined)).not.toThrow();
  });

  it('rejects the segment as bad when a required one is missing or a read one is off its schema', () => {
    const missing = thrown(() => checkTransferIn(reader, { sceneCuts: [] }));
    expect(missing).toBeInstanceOf(BadSegmentError);
    expect(missing.message).toMatch(/transfer\.size: required by transcode, but no earlier hop passed it on/);
    const invalid = thrown(() => checkTransferIn(reader, { size: 4, sceneCuts: [-1] }));
    expect(invalid).toBeInstanceOf(BadSegmentError);
    expect(invalid.message).toMatch(/transfer\.sceneCuts\.0: must be >= 0/);
  });
});

describe('checkTransferOut', () => {
  it('passes declared parameters that fit, and what came in passed on unchanged', () => {
    expect(() => checkTransferOut([emitter], { width: 640 }, { data: bytes, transfer: { width: 640, sceneCuts: [2] } })).not.toThrow();
    expect(() => checkTransferOut([emitter], undefined, { data: bytes })).not.toThrow();
  });

  it('fails the stage for an undeclared parameter or one off its schema, naming it', () => {
    const undeclared = thrown(() => checkTransferOut([emitter], { width: 640 }, { data: bytes, transfer: { width: 320 } }));
    expect(undeclared).toBeInstanceOf(ValidationFailedError);
    expect((undeclared as ValidationFailedError).problems).toEqual(['transfer.width: detect does not declare emitting "width" (add it to transfer.emits)']);
    const invalid = thrown(() => checkTransferOut([emitter], {}, [{ rendition: 'a', data: bytes, transfer: { sceneCuts: ['x'] } }]));
    expect((invalid as ValidationFailedError).problems).toEqual(['[0].transfer.sceneCuts.0: must be number']);
  });

  it('takes a fused hop\'s declarations together', () => {
    const sizer = { name: 'scale', transfer: { emits: { width: { type: 'integer' } } } };
    expect(() => checkTransferOut([emitter, sizer], {}, { data: bytes, transfer: { width: 320, sceneCuts: [] } })).not.toThrow();
  });
});
