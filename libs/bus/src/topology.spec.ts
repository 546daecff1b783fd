import { outputBlobTtlSeconds } from './topology.js';

describe('outputBlobTtlSeconds', () => {
  it('outlives the LM_OUT message by a tenth of the retention, at most a minute', () => {
    expect(outputBlobTtlSeconds(10)).toBe(11);
    expect(outputBlobTtlSeconds(600)).toBe(660);
    expect(outputBlobTtlSeconds(86_400)).toBe(86_460);
  });
});
