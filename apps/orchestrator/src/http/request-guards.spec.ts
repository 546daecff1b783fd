import { allowedHosts, hostOfHeader, hostProblem, isJsonType } from './request-guards.js';

const env = { LIVEMESH_ALLOWED_HOSTS: '', LIVEMESH_BIND: '0.0.0.0', LIVEMESH_PUBLIC_HOST: 'media.example.com' };

describe('the Host allow-list', () => {
  it('reads the host of a Host header', () => {
    expect(hostOfHeader('LocalHost:8080')).toBe('localhost');
    expect(hostOfHeader('[::1]:8080')).toBe('::1');
    expect(hostOfHeader('example.com.')).toBe('example.com');
    expect(hostOfHeader('a b')).toBeUndefined();
  });

  it('answers loopback, addresses, *.localhost, the public host and listed names; refuses other names', () => {
    const allowed = allowedHosts(env);
    for (const h of ['localhost:8080', '127.0.0.1:8080', '[::1]:8080', '10.0.0.5:8080', 'app.localhost', 'media.example.com:8080']) expect(hostProblem(h, allowed)).toBeUndefined();
    expect(hostProblem('evil.example:8080', allowed)).toMatch(/Host "evil.example" is not one this orchestrator answers to; add it to LIVEMESH_ALLOWED_HOSTS/);
    expect(hostProblem(undefined, allowed)).toMatch(/no Host header/);
    expect(hostProblem('evil.example', allowedHosts({ ...env, LIVEMESH_ALLOWED_HOSTS: 'Evil.example, other' }))).toBeUndefined();
    expect(hostProblem('anything.example', allowedHosts({ ...env, LIVEMESH_ALLOWED_HOSTS: '*' }))).toBeUndefined();
  });
});

describe('JSON bodies only', () => {
  it('takes application/json and +json types, with parameters', () => {
    expect(isJsonType('application/json')).toBe(true);
    expect(isJsonType('Application/JSON; charset=utf-8')).toBe(true);
    expect(isJsonType('application/merge-patch+json')).toBe(true);
    expect(isJsonType('text/plain')).toBe(false);
    expect(isJsonType('application/x-www-form-urlencoded')).toBe(false);
    expect(isJsonType(undefined)).toBe(false);
  });
});
