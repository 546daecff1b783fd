import { BusError } from '@livemesh/contracts';
import { toBusError } from './bus.errors.js';

describe('toBusError', () => {
  it('keeps the client error as cause and says what was tried', () => {
    const raw = new Error('stream not found');
    const e = toBusError(raw, 'info of stream LM_X');
    expect(e).toBeInstanceOf(BusError);
    expect(e.message).toBe('info of stream LM_X: stream not found');
    expect(e.cause).toBe(raw);
    expect(e.reason).toBe('not-found');
  });

  it('passes a BusError through unchanged', () => {
    const e = new BusError('x', { reason: 'conflict' });
    expect(toBusError(e, 'y')).toBe(e);
  });

  it('leaves the reason out when the case is not one callers tell apart', () => {
    expect(toBusError(new Error('permissions violation'), 'publish').reason).toBeUndefined();
  });
});
