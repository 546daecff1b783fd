import { checkTransferDecl, hopTransferOf, transferFitProblems, transferSchemaFits, type TransferStage } from './transfer.js';

const cuts = { type: 'array', items: { type: 'number', minimum: 0 } };

describe('checkTransferDecl', () => {
  it('accepts emits and reads with usable schemas', () => {
    expect(checkTransferDecl({ emits: { sceneCuts: cuts }, reads: { width: { schema: { type: 'integer' }, required: true } } })).toEqual([]);
    expect(checkTransferDecl(undefined)).toEqual([]);
  });

  it('names every problem: bad names, unknown keys, unusable or unsafe schemas', () => {
    const problems = checkTransferDecl({
      emits: { 'a.b': { type: 'string' }, s: { type: 'strin' } },
      reads: { w: { schema: { type: 'string', pattern: '^(a+)+$' }, required: 'yes' } },
      other: {},
    } as never);
    expect(problems).toEqual(
      expect.arrayContaining([
        'transfer.other: unknown key (emits, reads)',
        "transfer.emits.a.b: a name must be 1-64 letters, digits, '-' or '_'",
        expect.stringMatching(/^transfer\.emits\.s: /),
        'transfer.reads.w.required: must be a boolean',
        expect.stringMatching(/^transfer\.reads\.w\.schema\.pattern: .* repeats a group/),
      ]),
    );
  });
});

describe('transferSchemaFits', () => {
  it('accepts the same schema, an integer for a number, and any value for a reader without a type', () => {
    expect(transferSchemaFits(cuts, cuts)).toEqual([]);
    expect(transferSchemaFits({ type: 'integer' }, { type: 'number' })).toEqual([]);
    expect(transferSchemaFits({ type: 'string' }, {})).toEqual([]);
  });

  it('refuses other types, item types and required properties the emitter does not promise', () => {
    expect(transferSchemaFits({ type: 'number' }, { type: 'integer' })).toEqual(['the emitter allows number, the reader wants integer']);
    expect(transferSchemaFits({ type: 'array', items: { type: 'string' } }, cuts)).toEqual(['the emitter allows string at [], the reader wants number']);
    expect(transferSchemaFits({ type: 'array' }, cuts)).toEqual(['the emitter does not say what its array holds']);
    expect(transferSchemaFits({}, { type: 'number' })).toEqual(['the emitter allows any type, the reader wants number']);
    expect(
      transferSchemaFits({ type: 'object', properties: { w: { type: 'integer' } } }, { type: 'object', required: ['w'], properties: { w: { type: 'integer' } } }),
    ).toEqual(['the reader requires property "w", the emitter does not']);
  });
});

describe('transferFitProblems', () => {
  const detect: TransferStage = { service: 'detect', transfer: { emits: { sceneCuts: cuts } } };
  const plain: TransferStage = { service: 'watermark' };
  const needs = (schema: Record<string, unknown> = cuts, required = true): TransferStage => ({ service: 'keyer', transfer: { reads: { sceneCuts: { schema, required } } } });

  it('accepts a required parameter emitted right before or anywhere earlier (transfer is carried forward)', () => {
    expect(transferFitProblems([detect, needs()])).toEqual([]);
    expect(transferFitProblems([detect, plain, plain, needs()])).toEqual([]);
  });

  it('refuses a required parameter no earlier stage emits, naming the stage and the parameter', () => {
    expect(transferFitProblems([plain, needs()])).toEqual([
      'stages[1].transfer.reads.sceneCuts: stage "keyer" requires transfer parameter "sceneCuts", which no stage before it emits',
    ]);
    // An emitter after the reader does not count.
    expect(transferFitProblems([needs(), detect])).toHaveLength(1);
  });

  it('lets an optional read go without an emitter, but not with a misfitting one', () => {
    expect(transferFitProblems([plain, needs(cuts, false)])).toEqual([]);
    expect(transferFitProblems([detect, needs({ type: 'string' }, false)])).toEqual([
      'stages[1].transfer.reads.sceneCuts: stage "keyer" reads transfer parameter "sceneCuts" that stage 0 ("detect") emits with an incompatible schema: the emitter allows array, the reader wants string',
    ]);
  });

  it('checks against the nearest earlier emitter, which overrides the ones before it', () => {
    const wrong: TransferStage = { service: 'other', transfer: { emits: { sceneCuts: { type: 'string' } } } };
    expect(transferFitProblems([wrong, detect, needs()])).toEqual([]);
    expect(transferFitProblems([detect, wrong, needs()])).toHaveLength(1);
  });
});

describe('hopTransferOf', () => {
  it('lists what a hop emits and reads, or nothing', () => {
    expect(hopTransferOf({ emits: { a: {} }, reads: { b: { schema: {}, required: true }, c: { schema: {} } } })).toEqual({
      emits: ['a'],
      reads: [{ name: 'b', required: true }, { name: 'c', required: false }],
    });
    expect(hopTransferOf(undefined)).toBeUndefined();
  });
});
