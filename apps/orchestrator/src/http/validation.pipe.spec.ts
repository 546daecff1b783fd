import type { ArgumentMetadata } from '@nestjs/common';
import { AUTOSCALE_DEFAULTS, ChangeChainRequest, PipelineSpec, ScaleRequest, ServiceSpec, StartStreamRequest, ValidationFailedError, autoscaleSettings } from '@livemesh/contracts';
import { livemeshValidationPipe } from './validation.pipe.js';

const pipe = livemeshValidationPipe();
const body = (metatype: ArgumentMetadata['metatype']): ArgumentMetadata => ({ type: 'body', metatype });

async function problems(metatype: ArgumentMetadata['metatype'], value: unknown): Promise<string[]> {
  try {
    await pipe.transform(value, body(metatype));
  } catch (e) {
    if (e instanceof ValidationFailedError) return e.problems;
    throw e;
  }
  return [];
}

const service = {
  name: 'pixelate',
  version: '1.0.0',
  paramSchema: { type: 'object', additionalProperties: false },
  input: 'segments',
  minReplicas: 0,
  maxReplicas: 2,
};

describe('HTTP body validation with the contracts DTOs', () => {
  it('accepts a valid service spec and returns a ServiceSpec instance', async () => {
    const out = await pipe.transform(service, body(ServiceSpec));
    expect(out).toBeInstanceOf(ServiceSpec);
  });

  it('refuses unknown fields, bad names, versions and kinds, naming each field', async () => {
    const p = await problems(ServiceSpec, { ...service, name: 'a.b', version: 'one', input: 'audio', extra: 1 });
    expect(p).toEqual(
      expect.arrayContaining([
        'extra: property extra should not exist',
        expect.stringMatching(/^name must be 1-64 letters/),
        'version must be semver, e.g. 1.2.0',
        expect.stringMatching(/^input must be one of the following values/),
      ]),
    );
  });

  it('checks the autoscale block like the other fields, and fills its defaults', async () => {
    const p = await problems(ServiceSpec, { ...service, autoscale: { enabled: 'yes', tolerance: 2, periodSeconds: 0, targetLagPerReplica: 1.5, surprise: 1 } });
    expect(p).toEqual(
      expect.arrayContaining([
        'autoscale.enabled must be a boolean value',
        'autoscale.tolerance must not be greater than 1',
        'autoscale.periodSeconds must not be less than 1',
        'autoscale.targetLagPerReplica must be an integer number',
        'autoscale.surprise: property surprise should not exist',
      ]),
    );
    const ok = (await pipe.transform({ ...service, autoscale: { enabled: true, periodSeconds: 2 } }, body(ServiceSpec))) as ServiceSpec;
    expect(autoscaleSettings(ok)).toEqual({ ...AUTOSCALE_DEFAULTS, periodSeconds: 2, enabled: true, keda: false });
    expect(autoscaleSettings(service as ServiceSpec).enabled).toBe(false);
  });

  it('refuses a pipeline without stages and a stage with a bad service name', async () => {
    expect(await problems(PipelineSpec, { name: 'p', stages: [] })).toEqual(['stages must contain at least 1 elements']);
    expect((await problems(PipelineSpec, { name: 'p', stages: [{ service: 'x y' }] }))[0]).toMatch(/^stages\.0\.service must be 1-64/);
  });

  it('checks stream start and chain change bodies', async () => {
    expect(await problems(StartStreamRequest, { id: 'room-1', attributes: { category: 'game' } })).toEqual([]);
    expect((await problems(StartStreamRequest, { id: 'room 1' }))[0]).toMatch(/^id must be 1-64/);
    expect(await problems(ChangeChainRequest, {})).toEqual(expect.arrayContaining([expect.stringMatching(/^stages/)]));
  });

  it('refuses a scale request outside 0..64 or not an integer', async () => {
    expect(await problems(ScaleRequest, { replicas: 2 })).toEqual([]);
    expect(await problems(ScaleRequest, { replicas: 1.5 })).toEqual(['replicas must be an integer number']);
    expect(await problems(ScaleRequest, { replicas: 65 })).toEqual(['replicas must not be greater than 64']);
  });
});
