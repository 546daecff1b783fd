import { ValidationFailedError } from '@livemesh/contracts';
import { STAGE_KIND, defineStage, describeNotAStage, isStageDefinition } from './stage.definition.js';

describe('defineStage', () => {
  it('returns a frozen, recognisable stage with an empty schema by default', async () => {
    const stage = defineStage({ name: 'echo', process: (ctx) => ({ data: ctx.segment.data }) });
    expect(stage.kind).toBe(STAGE_KIND);
    expect(stage.input).toBe('segments');
    expect(stage.params).toEqual({ type: 'object', properties: {}, additionalProperties: false });
    expect(Object.isFrozen(stage)).toBe(true);
    expect(isStageDefinition(stage)).toBe(true);
    // A synchronous process is still awaited like an async one.
    await expect(stage.process({ segment: { data: new Uint8Array([1]) } } as never)).resolves.toEqual({ data: new Uint8Array([1]) });
  });

  it('refuses a name that cannot be a subject token', () => {
    expect(() => defineStage({ name: 'a.b', process: () => [] })).toThrow(/not a valid name/);
  });

  it('keeps the transfer parameters it declares, and refuses an unusable declaration when the module loads', () => {
    const stage = defineStage({ name: 'x', transfer: { emits: { cuts: { type: 'array', items: { type: 'number' } } } }, process: () => [] });
    expect(stage.transfer).toEqual({ emits: { cuts: { type: 'array', items: { type: 'number' } } } });
    expect(() => defineStage({ name: 'x', transfer: { reads: { cuts: { schema: { type: 'nope' } } } }, process: () => [] })).toThrow(/transfer\.reads\.cuts\.schema: /);
  });

  it('refuses a schema that lets unknown parameters through', () => {
    expect(() => defineStage({ name: 'x', params: { type: 'object', properties: {} }, process: () => [] })).toThrow(ValidationFailedError);
  });
});

describe('describeNotAStage', () => {
  it('explains what a loaded module got wrong', () => {
    expect(describeNotAStage(undefined)[0]).toMatch(/default export/);
    expect(describeNotAStage({ name: 'x', process: () => undefined })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^kind/), expect.stringMatching(/^paramSchema/), expect.stringMatching(/^input/)]),
    );
  });

  it('accepts a stage made by another copy of the SDK (a plain object with the mark)', () => {
    const copy = { kind: STAGE_KIND, name: 'x', input: 'segments', params: { type: 'object', additionalProperties: false }, process: async () => [] };
    expect(describeNotAStage(copy)).toEqual([]);
  });
});
