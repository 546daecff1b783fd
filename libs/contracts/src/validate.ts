import 'reflect-metadata';
import { plainToInstance, type ClassConstructor } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { ValidationFailedError } from './errors.js';

/** Same rules as the HTTP ValidationPipe: unknown fields are refused, types are converted. */
const OPTIONS = { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true } as const;

/** Flattens nested class-validator errors into `path: why` lines. */
export function describeValidationErrors(errors: ValidationError[], parent = ''): string[] {
  const out: string[] = [];
  for (const e of errors) {
    const path = parent ? `${parent}.${e.property}` : e.property;
    for (const message of Object.values(e.constraints ?? {})) {
      out.push(message.startsWith(e.property) ? `${parent ? parent + '.' : ''}${message}` : `${path}: ${message}`);
    }
    if (e.children?.length) out.push(...describeValidationErrors(e.children, path));
  }
  return out;
}

/**
 * Turns an untrusted plain value (JSON body, bus message) into a validated instance of `cls`,
 * or throws ValidationFailedError naming every bad field.
 */
export function validateMessage<T extends object>(cls: ClassConstructor<T>, plain: unknown, what = cls.name): T {
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) {
    throw new ValidationFailedError(`${what} is invalid`, ['expected a JSON object']);
  }
  const instance = plainToInstance(cls, plain, { enableImplicitConversion: false });
  const errors = validateSync(instance, OPTIONS);
  if (errors.length > 0) {
    throw new ValidationFailedError(`${what} is invalid`, describeValidationErrors(errors));
  }
  return instance;
}

/** Parses JSON bytes from the bus and validates them. */
export function decodeMessage<T extends object>(cls: ClassConstructor<T>, data: Uint8Array, what = cls.name): T {
  let plain: unknown;
  try {
    plain = JSON.parse(new TextDecoder().decode(data));
  } catch (cause) {
    throw new ValidationFailedError(`${what} is invalid`, ['body is not JSON'], { cause });
  }
  return validateMessage(cls, plain, what);
}
