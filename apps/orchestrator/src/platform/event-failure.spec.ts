import { ConflictException, InternalServerErrorException } from '@nestjs/common';
import { BusError, ChainPlanError, InvalidNameError, NotFoundError, RuntimeError, SourceUrlError, ValidationFailedError } from '@livemesh/contracts';
import { EventGaveUp, isFinalFailure, withBoundedRetries } from './event-failure.js';

describe('platform event failures', () => {
  it.each([
    ['an invalid request', new ValidationFailedError('bad', ['id: wrong'])],
    ['an unplannable chain', new ChainPlanError('no plan', ['pipeline: unknown'])],
    ['a bad name', new InvalidNameError('bad name')],
    ['a refused source URL', new SourceUrlError('file: is not allowed')],
    ['an unknown stream', new NotFoundError('no such stream')],
    ['a runtime that cannot start the service', new RuntimeError('no image')],
    ['a conflict', new ConflictException('stopping')],
  ])('treats %s as final', (_what, e) => {
    expect(isFinalFailure(e)).toBe(true);
  });

  it.each([
    ['the bus unavailable', new BusError('connection closed')],
    ['a NATS timeout', Object.assign(new Error('TIMEOUT'), { code: 'TIMEOUT' })],
    ['a server error', new InternalServerErrorException()],
  ])('retries %s', (_what, e) => {
    expect(isFinalFailure(e)).toBe(false);
  });

  it('gives a final failure up after one attempt', async () => {
    let calls = 0;
    const run = withBoundedRetries(async () => {
      calls++;
      throw new SourceUrlError('refused');
    });
    await expect(run).rejects.toMatchObject({ attempts: 1, final: true, message: 'refused' });
    expect(calls).toBe(1);
  });

  it('retries a passing failure within its budget, then gives up', async () => {
    const started = Date.now();
    let calls = 0;
    const run = withBoundedRetries(
      async () => {
        calls++;
        throw new BusError('down');
      },
      { budgetMs: 300, firstDelayMs: 50 },
    );
    await expect(run).rejects.toBeInstanceOf(EventGaveUp);
    expect(calls).toBe(3); // at 0, 50 and 150 ms; the next would start at 350 ms
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('answers with the result once a retry succeeds', async () => {
    let calls = 0;
    await expect(withBoundedRetries(async () => (++calls < 2 ? Promise.reject(new BusError('blip')) : 'ok'), { budgetMs: 500, firstDelayMs: 10 })).resolves.toBe('ok');
  });
});
