import { checkValueSchema } from './params.js';
import { isToken } from './subjects.js';

/**
 * Transfer parameters (`Lm-Transfer`, SegmentMeta.transfer): named values a stage hands on with a
 * segment to the stages after it. A service declares, in its spec, the ones it emits and the ones
 * it reads, each with a JSON Schema of its value (the validator and bounds of paramSchema).
 *
 * Transfer is carried forward: a hop's output carries what came in with what the stage emitted
 * laid over it (stage.routing.ts planPublishes), so a parameter reaches every later stage of the
 * chain until another stage emits the same name. A read is therefore satisfied by the nearest
 * earlier stage of the chain that emits it, not only the one right before.
 */
export interface TransferRead {
  schema: Record<string, unknown>;
  /** The stage cannot work without it: the planner refuses a chain where no earlier stage emits it. */
  required?: boolean;
}

export interface TransferDecl {
  /** Parameter name -> JSON Schema of its value. */
  emits?: Record<string, Record<string, unknown>>;
  reads?: Record<string, TransferRead>;
}

/** What a hop of a chain spec shows about transfer (HopSpec.transfer). */
export interface HopTransfer {
  emits: string[];
  reads: { name: string; required: boolean }[];
}

export const MAX_TRANSFER_PARAMS = 32;

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Problems with a declaration (names, schemas, shape); empty when it is usable. */
export function checkTransferDecl(decl: unknown, prefix = 'transfer'): string[] {
  if (decl === undefined) return [];
  if (!isRecord(decl)) return [`${prefix}: must be an object { emits?, reads? }`];
  const problems: string[] = [];
  for (const k of Object.keys(decl)) if (k !== 'emits' && k !== 'reads') problems.push(`${prefix}.${k}: unknown key (emits, reads)`);
  for (const side of ['emits', 'reads'] as const) {
    const map = decl[side];
    if (map === undefined) continue;
    if (!isRecord(map)) {
      problems.push(`${prefix}.${side}: must be an object of parameter name -> ${side === 'emits' ? 'schema' : '{ schema, required? }'}`);
      continue;
    }
    if (Object.keys(map).length > MAX_TRANSFER_PARAMS) problems.push(`${prefix}.${side}: more than ${MAX_TRANSFER_PARAMS} parameters`);
    for (const [name, v] of Object.entries(map)) {
      const at = `${prefix}.${side}.${name}`;
      if (!isToken(name)) problems.push(`${at}: a name must be 1-64 letters, digits, '-' or '_'`);
      if (side === 'emits') problems.push(...checkValueSchema(v, at));
      else if (!isRecord(v)) problems.push(`${at}: must be { schema, required? }`);
      else {
        for (const k of Object.keys(v)) if (k !== 'schema' && k !== 'required') problems.push(`${at}.${k}: unknown key (schema, required)`);
        if (v.required !== undefined && typeof v.required !== 'boolean') problems.push(`${at}.required: must be a boolean`);
        problems.push(...checkValueSchema(v.schema, `${at}.schema`));
      }
    }
  }
  return problems;
}

/** The JSON types a schema allows, or undefined for any (no `type`). */
function typesOf(schema: Record<string, unknown>): Set<string> | undefined {
  const t = schema.type;
  if (typeof t === 'string') return new Set([t]);
  if (Array.isArray(t)) return new Set(t.filter((x): x is string => typeof x === 'string'));
  return undefined;
}

/**
 * Why values the `emitted` schema allows may not fit the `read` one, or [] when they fit. A
 * structural check, conservative on types and shapes: the read side's types must cover the
 * emitted ones (an integer fits a number), array items and object properties (those both name)
 * must fit in turn, and every property the reader requires must be required by the emitter.
 * Bounds (minimum, pattern...) are not compared: the SDK checks the values at run time.
 */
export function transferSchemaFits(emitted: Record<string, unknown>, read: Record<string, unknown>, path = ''): string[] {
  const want = typesOf(read);
  if (!want) return [];
  const have = typesOf(emitted);
  const at = path ? ` at ${path}` : '';
  if (!have) return [`the emitter allows any type${at}, the reader wants ${[...want].join(' or ')}`];
  const problems: string[] = [];
  for (const t of have) {
    if (!want.has(t) && !(t === 'integer' && want.has('number'))) problems.push(`the emitter allows ${t}${at}, the reader wants ${[...want].join(' or ')}`);
  }
  if (problems.length) return problems;
  if (have.has('array') && isRecord(read.items)) {
    if (!isRecord(emitted.items)) problems.push(`the emitter does not say what its array${at} holds`);
    else problems.push(...transferSchemaFits(emitted.items, read.items, `${path}[]`));
  }
  if (have.has('object')) {
    const emittedRequired = new Set(Array.isArray(emitted.required) ? emitted.required : []);
    for (const r of Array.isArray(read.required) ? read.required : []) {
      if (!emittedRequired.has(r)) problems.push(`the reader requires property "${String(r)}"${at}, the emitter does not`);
    }
    const rp = isRecord(read.properties) ? read.properties : {};
    const ep = isRecord(emitted.properties) ? emitted.properties : {};
    for (const [k, rs] of Object.entries(rp)) {
      const es = ep[k];
      if (isRecord(es) && isRecord(rs)) problems.push(...transferSchemaFits(es, rs, `${path}.${k}`));
    }
  }
  return problems;
}

/** A stage of a chain as the fit check sees it: its service name and what it declares (none when unknown). */
export interface TransferStage {
  service: string;
  transfer?: TransferDecl;
}

/** For each stage and each parameter it reads, the index of the nearest earlier stage that emits it. */
export function transferSources(stages: readonly TransferStage[]): Map<number, Map<string, number>> {
  const out = new Map<number, Map<string, number>>();
  stages.forEach((s, i) => {
    const found = new Map<string, number>();
    for (const name of Object.keys(s.transfer?.reads ?? {})) {
      for (let j = i - 1; j >= 0; j--) {
        if (stages[j]!.transfer?.emits?.[name] !== undefined) {
          found.set(name, j);
          break;
        }
      }
    }
    out.set(i, found);
  });
  return out;
}

/**
 * Whether adjacent stages fit (see the module comment for why "before it" means anywhere earlier
 * in the chain): every required read has an earlier emitter, and every read whose parameter an
 * earlier stage emits fits that emitter's schema. One problem per misfit, naming the stage and
 * the parameter, prefixed `stages[i].transfer`.
 */
export function transferFitProblems(stages: readonly TransferStage[]): string[] {
  const problems: string[] = [];
  const sources = transferSources(stages);
  stages.forEach((s, i) => {
    for (const [name, read] of Object.entries(s.transfer?.reads ?? {})) {
      const at = `stages[${i}].transfer.reads.${name}`;
      const from = sources.get(i)?.get(name);
      if (from === undefined) {
        if (read.required) problems.push(`${at}: stage "${s.service}" requires transfer parameter "${name}", which no stage before it emits`);
        continue;
      }
      const emitter = stages[from]!;
      for (const why of transferSchemaFits(emitter.transfer!.emits![name]!, read.schema)) {
        problems.push(`${at}: stage "${s.service}" reads transfer parameter "${name}" that stage ${from} ("${emitter.service}") emits with an incompatible schema: ${why}`);
      }
    }
  });
  return problems;
}

/** What a hop of the chain spec shows (HopSpec.transfer), or undefined when the service declares nothing. */
export function hopTransferOf(decl: TransferDecl | undefined): HopTransfer | undefined {
  const emits = Object.keys(decl?.emits ?? {});
  const reads = Object.entries(decl?.reads ?? {}).map(([name, r]) => ({ name, required: r.required === true }));
  return emits.length || reads.length ? { emits, reads } : undefined;
}
