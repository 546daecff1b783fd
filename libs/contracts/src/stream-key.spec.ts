import { randomBytes } from 'node:crypto';
import { generateStreamKey, hashStreamKey, openSecret, sameKeyHash, sealSecret, srtPassphraseAad, streamKeyProblems } from './stream-key.js';

describe('streamKeyProblems', () => {
  it('accepts generated keys and strong platform keys', () => {
    for (let i = 0; i < 200; i++) expect(streamKeyProblems(generateStreamKey())).toEqual([]);
    expect(streamKeyProblems('Xq7vB2kL9-mN4_pR6sT8wZ3d')).toEqual([]);
    expect(generateStreamKey()).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it.each([
    ['short', 'Ab1Cd2Ef3', /9 characters; it needs 24-64/],
    ['too long', `${'Ab1Cd2Ef3Gh4'.repeat(7)}`, /84 characters/],
    ['a character outside the set', 'Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8.', /may only hold/],
    ['a path separator', 'Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8/', /may only hold/],
    ['one class only', 'abcdefghijklmnopqrstuvwxyz', /at least 2 character classes/],
    ['few distinct characters', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaB1', /3 distinct characters; it needs 12/],
    ['lower case and digits, 24 long (124 bits)', 'a1b2c3d4e5f6g7h8i9j0klmn', /estimated at 124 bits; it needs 128/],
  ])('refuses %s', (_what, key, problem) => {
    const problems = streamKeyProblems(key);
    expect(problems.join('; ')).toMatch(problem);
    expect(problems.join('; ')).not.toContain(key);
  });

  it('refuses what is not a string', () => {
    expect(streamKeyProblems(42)).toEqual(['publish.key must be a string']);
  });
});

describe('hashStreamKey and sameKeyHash', () => {
  it('hashes to 64 hex digits and compares hashes only', () => {
    const h = hashStreamKey('k');
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(sameKeyHash(h, hashStreamKey('k'))).toBe(true);
    expect(sameKeyHash(h, hashStreamKey('j'))).toBe(false);
    expect(sameKeyHash(h, undefined)).toBe(false);
    expect(sameKeyHash('k', 'k')).toBe(false);
  });
});

describe('sealSecret and openSecret', () => {
  const secret = randomBytes(32);
  const aad = srtPassphraseAad('s1', hashStreamKey('key'));

  it('opens what it sealed, under the same secret and for the same place only', () => {
    const sealed = sealSecret(secret, 'the-passphrase-123', aad);
    expect(JSON.stringify(sealed)).not.toContain('the-passphrase');
    expect(openSecret(secret, sealed, aad)).toBe('the-passphrase-123');
    expect(openSecret(randomBytes(32), sealed, aad)).toBeUndefined();
    expect(openSecret(secret, sealed, srtPassphraseAad('s2', hashStreamKey('key')))).toBeUndefined();
    expect(openSecret(secret, { ...sealed, data: Buffer.from('x').toString('base64url') }, aad)).toBeUndefined();
    expect(openSecret(secret, undefined, aad)).toBeUndefined();
  });
});
