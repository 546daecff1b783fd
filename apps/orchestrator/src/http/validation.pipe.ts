import { ValidationPipe } from '@nestjs/common';
import { ValidationFailedError, describeValidationErrors } from '@livemesh/contracts';

/**
 * The one body validator: unknown fields are refused, and failures become ValidationFailedError
 * so HTTP and bus messages report problems in the same `path: why` form.
 */
export function livemeshValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) => new ValidationFailedError('request is invalid', describeValidationErrors(errors)),
  });
}
