import { BusError } from '@livemesh/contracts';
import { decodeCarry } from './carry.store.js';

function encode(json: string, data: number[]): Uint8Array {
  const j = new TextEncoder().encode(json);
  const v = new Uint8Array(4 + j.length + data.length);
  new DataView(v.buffer).setUint32(0, j.length);
  v.set(j, 4);
  v.set(data, 4 + j.length);
  return v;
}

describe('decodeCarry', () => {
  it('splits the JSON meta from the bytes after it', () => {
    const c = decodeCarry('k', encode('{"epoch":1,"meta":{"a":2}}', [9, 8, 7]));
    expect(c.meta).toEqual({ epoch: 1, meta: { a: 2 } });
    expect([...c.data]).toEqual([9, 8, 7]);
  });

  it.each([
    ['too short', new Uint8Array([0, 0]), 'carry k is unreadable: 2 bytes'],
    ['a length past the end', encode('{}', []).map((b, i) => (i === 3 ? 200 : b)), 'carry k is unreadable: its JSON length 200 runs past its 6 bytes'],
    ['not JSON', encode('{nope', []), 'carry k is unreadable: meta is not JSON'],
    ['not an object', encode('[1]', []), 'carry k is unreadable: meta is not a JSON object'],
  ])('refuses %s with a BusError that says why', (_why, value, message) => {
    expect(() => decodeCarry('k', value)).toThrow(BusError);
    expect(() => decodeCarry('k', value)).toThrow(message);
  });
});
