import { PARAM_SCHEMA_LIMITS, checkParamSchema, unsafePatternReason, validateParams } from './params.js';

const schemaWith = (pattern: string) => ({ type: 'object', additionalProperties: false, properties: { v: { type: 'string', pattern } } });

describe('parameter schema patterns', () => {
  it.each([
    ['^(a+)+$', /nested quantifier/],
    ['^(a*)*$', /nested quantifier/],
    ['^(a|a)*$', /nested quantifier/],
    ['^(a|aa){2,}$', /nested quantifier/],
    ['^(?:x?){30}x{30}$', /nested quantifier/],
    ['^((ab)+c)*$', /nested quantifier/],
    ['^([a-z]+\\.)+$', /nested quantifier/],
    ['^(a)\\1$', /backreference/],
    ['^(?<x>a)\\k<x>$', /backreference/],
    ['^(?=a)a$', /lookaround/],
    ['^(?<!a)b$', /lookaround/],
    ['^\\d*\\d*\\d*x$', /3 unbounded quantifiers/],
    ['a'.repeat(PARAM_SCHEMA_LIMITS.maxPatternLength + 1), /longer than/],
    ['(', /not a valid regular expression/],
  ])('refuses %j', (pattern, why) => {
    expect(unsafePatternReason(pattern)).toMatch(why);
  });

  it.each([
    // The built-in services' patterns (libs/services/src/*.service.ts).
    '^[A-Za-z0-9_-]{1,64}$',
    '^([A-Za-z]{3,20}|#[0-9A-Fa-f]{6})$',
    '^\\d+(\\.\\d+)?$',
    '^[(+*)]+$',
    '^(ab)?c{2,5}$',
    '^(?:https?)://[a-z.]+$',
  ])('accepts %j', (pattern) => {
    expect(unsafePatternReason(pattern)).toBeUndefined();
  });

  it('refuses a schema with a hostile pattern, naming the field', () => {
    expect(checkParamSchema(schemaWith('^(a+)+$'))).toEqual([expect.stringMatching(/^paramSchema\.properties\.v\.pattern: "\^\(a\+\)\+\$" repeats a group/)]);
  });

  it('refuses a hostile patternProperties key', () => {
    const schema = { type: 'object', additionalProperties: false, patternProperties: { '^(x|x)+$': { type: 'string' } } };
    expect(checkParamSchema(schema)).toEqual([expect.stringMatching(/^paramSchema\.patternProperties: "\^\(x\|x\)\+\$" repeats a group/)]);
  });

  it('refuses a schema nested too deep or too large', () => {
    let deep: object = { type: 'string' };
    for (let i = 0; i < PARAM_SCHEMA_LIMITS.maxDepth; i++) deep = { type: 'object', properties: { x: deep } };
    expect(checkParamSchema({ type: 'object', additionalProperties: false, properties: { x: deep } }).join()).toMatch(/nests deeper than 16 levels/);
    const big = { type: 'object', additionalProperties: false, description: 'x'.repeat(PARAM_SCHEMA_LIMITS.maxBytes) };
    expect(checkParamSchema(big)).toEqual([expect.stringMatching(/^paramSchema: is \d+ bytes as JSON, more than 65536/)]);
  });

  it('accepts a usable schema', () => {
    expect(checkParamSchema(schemaWith('^[a-z]{1,8}$'))).toEqual([]);
  });

  it('refuses an over-long string parameter before running any pattern on it', () => {
    const { problems } = validateParams(schemaWith('^[a-z]*$'), { v: 'a'.repeat(PARAM_SCHEMA_LIMITS.maxStringLength + 1) }, 'stages[0].params');
    expect(problems).toEqual(['stages[0].params.v: is longer than 4096 characters']);
    expect(validateParams(schemaWith('^[a-z]*$'), { v: 'abc' }).problems).toEqual([]);
  });
});
