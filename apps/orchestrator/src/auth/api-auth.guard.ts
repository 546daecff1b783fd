import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { ForbiddenError, scopesAllow, type ApiScope } from '@livemesh/contracts';
import { routeAccess } from './auth.decorators.js';
import { ApiTokensService, type ApiCaller } from './api-tokens.service.js';

/** A route that declares nothing is for admin only (default deny). */
const UNDECLARED: readonly ApiScope[] = ['admin'];

/**
 * The global guard: every HTTP route needs a bearer token with one of the scopes it declares
 * (`@Scopes`), unless it is `@Public()`. Bus handlers (platform events) are not HTTP: what may
 * publish them is NATS's business, so they pass.
 */
@Injectable()
export class ApiAuthGuard implements CanActivate {
  constructor(@Inject(ApiTokensService) private readonly tokens: ApiTokensService) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const access = routeAccess(ctx.getClass(), ctx.getHandler());
    if (access === 'public') return true;
    const req = ctx.switchToHttp().getRequest<{ method: string; path?: string; url: string; headers: Record<string, string | undefined>; caller?: ApiCaller }>();
    const caller = await this.tokens.authenticate(req.headers.authorization);
    const needed = access ?? UNDECLARED;
    if (!scopesAllow(caller.scopes, needed)) {
      throw new ForbiddenError(
        needed,
        caller.scopes,
        `${req.method} ${req.path ?? req.url} needs scope ${needed.join(' or ')}; token ${caller.id} ("${caller.name}") has ${caller.scopes.join(', ')}`,
      );
    }
    req.caller = caller;
    return true;
  }
}
