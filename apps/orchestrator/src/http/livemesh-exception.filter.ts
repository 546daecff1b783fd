import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import {
  ChainPlanError,
  ForbiddenError,
  InvalidNameError,
  NotFoundError,
  QuotaExceededError,
  SourceUrlError,
  UnauthenticatedError,
  UnsafeServiceError,
  WeakStreamKeyError,
  ValidationFailedError,
} from '@livemesh/contracts';
import { quotaAnswer } from './quota-answer.js';

interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  problems?: string[];
  code?: string;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

/** Maps livemesh's named errors to HTTP answers; anything unexpected is a logged 500 without internals. */
@Catch()
export class LivemeshExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(LivemeshExceptionFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const http = host.switchToHttp();
    const res = http.getResponse<{ headersSent?: boolean; status(code: number): { json(body: unknown): void }; setHeader(name: string, value: string): void; destroy?(): void }>();
    const req = http.getRequest<{ method?: string; url?: string }>();
    const { status, body } = this.describe(exception, `${req.method} ${req.url}`);
    if (res.headersSent) {
      res.destroy?.();
      return;
    }
    const challenge = bearerChallenge(exception);
    if (challenge) res.setHeader('WWW-Authenticate', challenge);
    res.status(status).json(body);
  }

  private describe(e: unknown, where: string): { status: number; body: ErrorBody | object } {
    if (e instanceof HttpException) return { status: e.getStatus(), body: normalise(e) };
    if (e instanceof UnauthenticatedError) return { status: 401, body: { ...answer(401, e.message, e.code).body, reason: e.reason } };
    if (e instanceof ForbiddenError) return { status: 403, body: { ...answer(403, e.message, e.code).body, required: e.required, scopes: e.granted } };
    // ChainPlanError is a ValidationFailedError: it must be matched first.
    if (e instanceof ChainPlanError) return answer(422, e.message, e.code, e.problems);
    if (e instanceof UnsafeServiceError) return answer(422, e.message, e.code, e.problems);
    if (e instanceof WeakStreamKeyError) return answer(422, e.message, e.code, e.problems);
    if (e instanceof ValidationFailedError) return answer(400, e.message, e.code, e.problems);
    if (e instanceof InvalidNameError) return answer(400, e.message, e.code);
    if (e instanceof NotFoundError) return answer(404, e.message, e.code);
    if (e instanceof SourceUrlError) return answer(422, e.message, e.code);
    if (e instanceof QuotaExceededError) return { status: 429, body: quotaAnswer(e) };
    this.logger.error(`${where} failed: ${(e as Error)?.message ?? String(e)}`, (e as Error)?.stack);
    return answer(500, 'internal error; the orchestrator log has the details', (e as { code?: string })?.code);
  }
}

function answer(status: number, message: string, code?: string, problems?: string[]): { status: number; body: ErrorBody } {
  const body: ErrorBody = { statusCode: status, error: REASONS[status] ?? 'Error', message };
  if (problems) body.problems = problems;
  if (code) body.code = code;
  return { status, body };
}

/** RFC 6750's challenge: which scheme, and for a bad token or a missing scope, what went wrong. */
function bearerChallenge(e: unknown): string | undefined {
  if (e instanceof UnauthenticatedError) return e.reason === 'missing' ? 'Bearer realm="livemesh"' : 'Bearer realm="livemesh", error="invalid_token"';
  if (e instanceof ForbiddenError) return `Bearer realm="livemesh", error="insufficient_scope", scope="${e.required.join(' ')}"`;
  return undefined;
}

function normalise(e: HttpException): object {
  const r = e.getResponse();
  return typeof r === 'string' ? { statusCode: e.getStatus(), error: e.name, message: r } : r;
}
