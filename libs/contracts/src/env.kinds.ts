import 'reflect-metadata';
import { Transform } from 'class-transformer';
import { ValidateBy } from 'class-validator';

/**
 * One decorator per kind of value an environment variable holds. Each is one check with one
 * message saying what the value must be; the loader (env.ts) puts the variable's name, the value
 * it got and the process in front. Unset and empty never reach a check: they mean the default,
 * and a variable without a default (initialised to undefined) is optional.
 */

/** Variables whose value an error must not repeat (tokens, secrets): filled by `@Secret`. */
export const SECRET_VARIABLES = new Set<string>();

type Check = (value: unknown) => boolean;

function kind(name: string, check: Check, problem: string, parse?: (raw: string) => unknown): PropertyDecorator {
  return (target, key) => {
    if (parse) Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? parse(value) : value))(target, key);
    ValidateBy({ name, validator: { validate: (v: unknown) => v === undefined || check(v), defaultMessage: () => problem } })(target, key as string);
  };
}

const toInt = (raw: string): unknown => (/^-?\d+$/.test(raw) ? Number(raw) : raw);
const intIn = (min: number, max: number): Check => (v) => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
const range = (min: number, max: number) => (max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `${min}-${max}`);

/** A TCP or UDP port; `{ off: true }` also takes 0, which turns the listener off. */
export function Port(opts: { off?: boolean } = {}): PropertyDecorator {
  const min = opts.off ? 0 : 1;
  return kind('port', intIn(min, 65_535), opts.off ? 'must be a port number 1-65535, or 0 (off)' : 'must be a port number 1-65535', toInt);
}

function wholeNumber(unit: string) {
  return (min: number, max = Number.MAX_SAFE_INTEGER): PropertyDecorator =>
    kind(unit, intIn(min, max), `must be a whole number${unit ? ` of ${unit}` : ''}, ${range(min, max)}`, toInt);
}

/** A duration in whole seconds. */
export const Seconds = wholeNumber('seconds');
/** A duration in whole milliseconds. */
export const Millis = wholeNumber('milliseconds');
/** A size in bytes. */
export const Bytes = wholeNumber('bytes');
/** A size in MiB. */
export const MiB = wholeNumber('MiB');
/** A count (segments, streams, attempts, thousandths of a CPU...). */
export const Count = wholeNumber('');

/** One of a fixed set of words. */
export function OneOf(values: readonly string[]): PropertyDecorator {
  return kind('oneOf', (v) => values.includes(v as string), `must be one of ${values.join(', ')}`);
}

/** A file or directory path (or a program name looked up on PATH). */
export function Path(): PropertyDecorator {
  return kind('path', (v) => typeof v === 'string' && /^[^\u0000]{1,4096}$/.test(v), 'must be a path (no NUL, at most 4096 characters)');
}

/** Free text (a host name, an address, an image reference); only its type is checked. */
export function Text(): PropertyDecorator {
  return kind('text', (v) => typeof v === 'string', 'must be text');
}

/** A whole value of a given shape; `what` completes "must be ...". */
export function Shaped(re: RegExp, what: string): PropertyDecorator {
  return kind('shape', (v) => typeof v === 'string' && re.test(v), `must be ${what}`);
}

/** A secret or credential of a given shape; errors never repeat its value. */
export function Secret(re: RegExp, what: string): PropertyDecorator {
  const shaped = Shaped(re, what);
  return (target, key) => {
    SECRET_VARIABLES.add(String(key));
    shaped(target, key);
  };
}

/** A comma-separated list (spaces around commas allowed; empty: none) whose every item matches `item`; `what` names the items. */
export function ListOf(item: RegExp, what: string): PropertyDecorator {
  const ok = (v: unknown) => typeof v === 'string' && (v === '' || v.split(',').every((s) => item.test(s.trim())));
  return kind('list', ok, `must be a comma list of ${what}`);
}

/** NATS server URLs: nats, tls, ws or wss, comma-separated; or one `unix:///path` (a bus relay socket). */
export function NatsUrls(): PropertyDecorator {
  return Shaped(/^((nats|tls|ws|wss):\/\/\S+|unix:\/\/\/[^\s,]+)$/, 'a URL like nats://host:port (several comma-separated), or unix:///path of a bus relay socket');
}

/** A JSON object (what a runtime hands a worker). */
export function JsonObject(): PropertyDecorator {
  const ok = (v: unknown) => {
    if (typeof v !== 'string') return false;
    try {
      const parsed: unknown = JSON.parse(v);
      return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed);
    } catch {
      return false;
    }
  };
  return kind('jsonObject', ok, 'must be a JSON object');
}
