import { apiSecretMatches, effectiveScopes, generateApiToken, hashApiSecret, parseApiToken, scopesAllow, weakApiTokenProblem } from './api-auth.js';

describe('API tokens', () => {
  it('generates lm_<id>_<secret> with 32 random bytes of secret, and parses it back', () => {
    const a = generateApiToken();
    const b = generateApiToken();
    expect(a.token).toMatch(/^lm_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.secret, 'base64url')).toHaveLength(32);
    expect(a.token).not.toBe(b.token);
    expect(parseApiToken(a.token)).toEqual({ id: a.id, secret: a.secret });
    // A secret may hold '_' itself: the id ends at the first one after the prefix.
    expect(parseApiToken(`lm_abc_${'_'.repeat(3)}${'x'.repeat(40)}`)).toEqual({ id: 'abc', secret: `___${'x'.repeat(40)}` });
  });

  it('refuses what is not the form, and a secret that does not look random', () => {
    for (const t of ['', 'lm_abc', `lm_ABC_${'a'.repeat(43)}`, `lm_abc_${'a'.repeat(42)}`, `xx_abc_${'a'.repeat(43)}`, `lm_abc_${'a'.repeat(40)}+/=`]) {
      expect(parseApiToken(t)).toBeUndefined();
      expect(weakApiTokenProblem(t)).toMatch(/must look like lm_<id>_<secret>/);
    }
    expect(weakApiTokenProblem(`lm_admin_${'ab'.repeat(30)}`)).toMatch(/does not look random/);
    expect(weakApiTokenProblem(generateApiToken('admin').token)).toBeUndefined();
  });

  it('matches a secret against its stored SHA-256 only when it is the same secret', () => {
    const { secret } = generateApiToken();
    const stored = hashApiSecret(secret);
    expect(stored).toMatch(/^[0-9a-f]{64}$/);
    expect(apiSecretMatches(secret, stored)).toBe(true);
    expect(apiSecretMatches(secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A'), stored)).toBe(false);
    expect(apiSecretMatches(secret, 'abcd')).toBe(false);
  });

  it('lets admin imply platform and read, platform imply read, and nothing imply admin', () => {
    expect([...effectiveScopes(['admin'])].sort()).toEqual(['admin', 'platform', 'read']);
    expect(scopesAllow(['platform'], ['read'])).toBe(true);
    expect(scopesAllow(['platform'], ['admin'])).toBe(false);
    expect(scopesAllow(['read'], ['platform'])).toBe(false);
    expect(scopesAllow(['read', 'platform'], ['admin'])).toBe(false);
    expect(scopesAllow(['admin'], ['platform'])).toBe(true);
  });
});
