import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/**
 * Per-hop parameters are checked against the service's parameter schema, a JSON Schema object.
 * Schemas must describe an object and may not allow unknown properties implicitly, so a typo in
 * a parameter name is an error rather than a silent no-op.
 */
const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: true, coerceTypes: false });
const compiled = new Map<string, ValidateFunction>();

/** Returns problems with the schema itself; empty when it is usable. */
export function checkParamSchema(schema: unknown): string[] {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return ['paramSchema: must be a JSON Schema object'];
  const s = schema as Record<string, unknown>;
  const problems: string[] = [];
  if (s.type !== 'object') problems.push('paramSchema.type: must be "object"');
  if (s.additionalProperties !== false) problems.push('paramSchema.additionalProperties: must be false, so unknown parameters are refused');
  if (problems.length) return problems;
  try {
    ajv.compile(s);
  } catch (e) {
    problems.push(`paramSchema: ${(e as Error).message}`);
  }
  return problems;
}

function validatorFor(schema: object): ValidateFunction {
  const key = JSON.stringify(schema);
  let v = compiled.get(key);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(key, v);
  }
  return v;
}

function describe(prefix: string, e: ErrorObject): string {
  const where = e.instancePath ? `${prefix}${e.instancePath.replace(/\//g, '.')}` : prefix;
  if (e.keyword === 'additionalProperties') return `${where}: unknown parameter "${String(e.params.additionalProperty)}"`;
  return `${where}: ${e.message ?? 'is invalid'}`;
}

/**
 * Validates (and fills defaults into a copy of) `params`. Returns the completed parameters and
 * the problems, each prefixed with `prefix` (for example `stages[1].params`).
 */
export function validateParams(
  schema: object,
  params: Record<string, unknown> | undefined,
  prefix = 'params',
): { params: Record<string, unknown>; problems: string[] } {
  const copy = structuredClone(params ?? {});
  const v = validatorFor(schema);
  if (v(copy)) return { params: copy, problems: [] };
  return { params: copy, problems: (v.errors ?? []).map((e) => describe(prefix, e)) };
}
