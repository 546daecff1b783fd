import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/**
 * Per-hop parameters are checked against the service's parameter schema, a JSON Schema object.
 * Schemas must describe an object and may not allow unknown properties implicitly, so a typo in
 * a parameter name is an error rather than a silent no-op.
 */
const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: true, coerceTypes: false });
const compiled = new Map<string, ValidateFunction>();

/** Bounds on a parameter schema, so an untrusted one cannot make planning slow (docs/api.md). */
export const PARAM_SCHEMA_LIMITS = {
  /** The schema as JSON, bytes. */
  maxBytes: 64 * 1024,
  /** Nesting of objects and arrays. */
  maxDepth: 16,
  /** One `pattern` (or `patternProperties` key), characters. */
  maxPatternLength: 256,
  /** Unbounded quantifiers (`*`, `+`, `{n,}`, `{n,m}` with m > 100) in one pattern. */
  maxUnboundedQuantifiers: 2,
  /** A string parameter value, characters: with the rules above this keeps every match polynomial and small. */
  maxStringLength: 4096,
} as const;

/**
 * Why `pattern` could backtrack catastrophically (V8's regex engine backtracks), or undefined.
 * A conservative rule, not a proof: it refuses backreferences, lookarounds, a repeated group that
 * itself holds a quantifier or an alternation (`(a+)+`, `(a|a)*`, `(a?){9}`), more than
 * PARAM_SCHEMA_LIMITS.maxUnboundedQuantifiers unbounded quantifiers and long patterns.
 */
export function unsafePatternReason(pattern: string): string | undefined {
  const L = PARAM_SCHEMA_LIMITS;
  if (pattern.length > L.maxPatternLength) return `is longer than ${L.maxPatternLength} characters`;
  try {
    new RegExp(pattern, 'u');
  } catch (e) {
    return `is not a valid regular expression (${(e as Error).message})`;
  }
  // Per open group: does its body hold a quantifier or an alternation?
  const groups: { quantified: boolean; alternation: boolean }[] = [{ quantified: false, alternation: false }];
  let unbounded = 0;
  let i = 0;
  /** Reads a quantifier at `at`: its length, whether it repeats more than once, whether it is unbounded. */
  const quantifier = (at: number): { len: number; repeats: boolean; unbounded: boolean } | undefined => {
    const c = pattern[at];
    const lazy = (n: number) => (pattern[at + n] === '?' ? n + 1 : n);
    if (c === '*' || c === '+') return { len: lazy(1), repeats: true, unbounded: true };
    if (c === '?') return { len: lazy(1), repeats: false, unbounded: false };
    const m = c === '{' ? /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(at)) : null;
    if (!m) return undefined;
    const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
    return { len: lazy(m[0].length), repeats: max > 1, unbounded: max > 100 };
  };
  while (i < pattern.length) {
    const c = pattern[i];
    const top = groups[groups.length - 1]!;
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (/[1-9]/.test(next) || next === 'k') return 'uses a backreference';
      i += 2;
    } else if (c === '[') {
      // A character class: skip to its unescaped end.
      i++;
      while (i < pattern.length && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '(') {
      if (/^\(\?<?[=!]/.test(pattern.slice(i))) return 'uses a lookaround';
      groups.push({ quantified: false, alternation: false });
      i += pattern.startsWith('(?:', i) ? 3 : 1;
      continue;
    } else if (c === ')') {
      const closed = groups.length > 1 ? groups.pop()! : top;
      const q = quantifier(i + 1);
      if (q?.repeats && (closed.quantified || closed.alternation)) {
        return 'repeats a group that itself holds a quantifier or an alternation (nested quantifier, as in (a+)+ or (a|b)*)';
      }
      const parent = groups[groups.length - 1]!;
      parent.quantified ||= closed.quantified || q !== undefined;
      parent.alternation ||= closed.alternation;
      if (q?.unbounded) unbounded++;
      i += 1 + (q?.len ?? 0);
      continue;
    } else if (c === '|') {
      top.alternation = true;
      i++;
    } else {
      i++;
    }
    // A quantifier after an atom (a character, an escape or a class).
    const q = c === '(' || c === '|' ? undefined : quantifier(i);
    if (q) {
      top.quantified = true;
      if (q.unbounded) unbounded++;
      i += q.len;
    }
  }
  if (unbounded > L.maxUnboundedQuantifiers) return `has ${unbounded} unbounded quantifiers (at most ${L.maxUnboundedQuantifiers})`;
  return undefined;
}

/** Problems with the schema's size, depth and regular expressions (see PARAM_SCHEMA_LIMITS). */
export function checkSchemaBounds(schema: object, prefix = 'paramSchema'): string[] {
  const L = PARAM_SCHEMA_LIMITS;
  const bytes = Buffer.byteLength(JSON.stringify(schema));
  if (bytes > L.maxBytes) return [`${prefix}: is ${bytes} bytes as JSON, more than ${L.maxBytes}`];
  const problems: string[] = [];
  const walk = (node: unknown, path: string, depth: number): void => {
    if (node === null || typeof node !== 'object') return;
    if (depth > L.maxDepth) {
      problems.push(`${path}: nests deeper than ${L.maxDepth} levels`);
      return;
    }
    for (const [k, v] of Object.entries(node)) {
      const at = Array.isArray(node) ? `${path}[${k}]` : `${path}.${k}`;
      if (k === 'pattern' && typeof v === 'string') {
        const why = unsafePatternReason(v);
        if (why) problems.push(`${at}: ${JSON.stringify(v)} ${why}`);
      }
      if (k === 'patternProperties' && v !== null && typeof v === 'object') {
        for (const key of Object.keys(v)) {
          const why = unsafePatternReason(key);
          if (why) problems.push(`${at}: ${JSON.stringify(key)} ${why}`);
        }
      }
      walk(v, at, depth + 1);
    }
  };
  walk(schema, prefix, 1);
  return problems;
}

/** Returns problems with the schema itself; empty when it is usable. */
export function checkParamSchema(schema: unknown): string[] {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return ['paramSchema: must be a JSON Schema object'];
  const s = schema as Record<string, unknown>;
  const problems: string[] = [];
  if (s.type !== 'object') problems.push('paramSchema.type: must be "object"');
  if (s.additionalProperties !== false) problems.push('paramSchema.additionalProperties: must be false, so unknown parameters are refused');
  if (problems.length) return problems;
  problems.push(...checkSchemaBounds(s));
  if (problems.length) return problems;
  try {
    ajv.compile(s);
  } catch (e) {
    problems.push(`paramSchema: ${(e as Error).message}`);
  }
  return problems;
}

/**
 * Problems with a schema of one value (a transfer parameter, see transfer.ts): any JSON Schema the
 * validator compiles, within PARAM_SCHEMA_LIMITS. Empty when it is usable.
 */
export function checkValueSchema(schema: unknown, prefix: string): string[] {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return [`${prefix}: must be a JSON Schema object`];
  const problems = checkSchemaBounds(schema, prefix);
  if (problems.length) return problems;
  try {
    ajv.compile(schema);
  } catch (e) {
    return [`${prefix}: ${(e as Error).message}`];
  }
  return [];
}

/** Validates one value (not copied, no defaults filled into it) against `schema`; problems prefixed with `prefix`. */
export function validateValue(schema: object, value: unknown, prefix: string): string[] {
  const long = longStrings(value, prefix);
  if (long.length) return long;
  const v = validatorFor(schema);
  if (v(structuredClone(value))) return [];
  return (v.errors ?? []).map((e) => describe(prefix, e));
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

/** String values longer than PARAM_SCHEMA_LIMITS.maxStringLength: refused before any pattern runs on them. */
function longStrings(node: unknown, path: string): string[] {
  const max = PARAM_SCHEMA_LIMITS.maxStringLength;
  if (typeof node === 'string') return node.length > max ? [`${path}: is longer than ${max} characters`] : [];
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([k, v]) => longStrings(v, Array.isArray(node) ? `${path}[${k}]` : `${path}.${k}`));
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
  const long = longStrings(copy, prefix);
  if (long.length) return { params: copy, problems: long };
  const v = validatorFor(schema);
  if (v(copy)) return { params: copy, problems: [] };
  return { params: copy, problems: (v.errors ?? []).map((e) => describe(prefix, e)) };
}
