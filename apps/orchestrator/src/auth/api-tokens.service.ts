import { ConflictException, Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { Bus, type JsonStore } from '@livemesh/bus';
import {
  BUCKETS,
  ConfigError,
  NotFoundError,
  UnauthenticatedError,
  ValidationFailedError,
  apiSecretMatches,
  generateApiToken,
  hashApiSecret,
  parseApiToken,
  weakApiTokenProblem,
  type ApiScope,
  type ApiTokenRecord,
  type ApiTokenView,
  type CreateTokenRequest,
  ENV,
  type OrchestratorSettings,
} from '@livemesh/contracts';
import { ensureAdminTokenFile } from '@livemesh/runtime';

/**
 * How long a token looked up in `lm_tokens` is trusted without reading it again, ms. A revoke on
 * this orchestrator replaces its entry at once; another orchestrator sees it within this time.
 */
export const TOKEN_CACHE_MS = 2_000;
/** Entries the lookup cache holds before it starts over (unknown ids are cached too, so a flood of made-up tokens costs one read each per TOKEN_CACHE_MS). */
const CACHE_ENTRIES = 10_000;
/** Tokens `lm_tokens` may hold, revoked and expired ones included (those are cleared first when it is full). */
export const MAX_API_TOKENS = 1_000;

/** Who is calling: a token's id, name and scopes. */
export interface ApiCaller {
  id: string;
  name: string;
  scopes: ApiScope[];
}

const HOW = 'send "Authorization: Bearer lm_<id>_<secret>" (the admin token is in <LIVEMESH_DATA_DIR>/admin.token; docs/security.md)';

/**
 * API tokens: the bootstrap admin token (LIVEMESH_ADMIN_TOKEN, else `<LIVEMESH_DATA_DIR>/admin.token`,
 * held in memory only) and the tokens created through the API, stored in `lm_tokens` with only the
 * SHA-256 of their secret.
 */
@Injectable()
export class ApiTokensService implements OnModuleInit {
  private readonly logger = new Logger(ApiTokensService.name);
  private readonly store: JsonStore<ApiTokenRecord>;
  private readonly cache = new Map<string, { record: ApiTokenRecord | undefined; until: number }>();
  private bootstrap!: { id: string; secretSha256: string; source: string; createdAt: string };

  constructor(
    @Inject(Bus) bus: Bus,
    @Inject(ENV) private readonly env: OrchestratorSettings,
  ) {
    this.store = bus.store(BUCKETS.tokens);
  }

  async onModuleInit(): Promise<void> {
    let token = this.env.LIVEMESH_ADMIN_TOKEN;
    let source = 'LIVEMESH_ADMIN_TOKEN';
    if (token) {
      const problem = weakApiTokenProblem(token);
      if (problem) throw new ConfigError('environment is invalid', [`LIVEMESH_ADMIN_TOKEN: ${problem}`]);
    } else {
      const file = await ensureAdminTokenFile(this.env.LIVEMESH_DATA_DIR);
      token = file.token;
      source = file.path;
      this.logger.log(`admin token ${file.created ? 'written to' : 'read from'} ${file.path}`);
    }
    const { id, secret } = parseApiToken(token)!;
    this.bootstrap = { id, secretSha256: hashApiSecret(secret), source, createdAt: new Date().toISOString() };
  }

  /** The caller an `Authorization` header names; UnauthenticatedError says what is wrong with it. */
  async authenticate(header: string | undefined): Promise<ApiCaller> {
    if (!header) throw new UnauthenticatedError('missing', `no bearer token: ${HOW}`);
    const m = /^Bearer +(\S+) *$/i.exec(header);
    if (!m) throw new UnauthenticatedError('malformed', `the Authorization header is not "Bearer <token>": ${HOW}`);
    const parsed = parseApiToken(m[1]!);
    if (!parsed) throw new UnauthenticatedError('malformed', 'the bearer token is malformed: a livemesh token looks like lm_<id>_<secret>');
    if (parsed.id === this.bootstrap.id) {
      if (apiSecretMatches(parsed.secret, this.bootstrap.secretSha256)) return { id: parsed.id, name: 'bootstrap admin', scopes: ['admin'] };
      throw unknown(parsed.id);
    }
    const record = await this.lookup(parsed.id);
    if (!record || !apiSecretMatches(parsed.secret, record.secretSha256)) throw unknown(parsed.id);
    if (record.revokedAt) throw new UnauthenticatedError('revoked', `token ${record.id} ("${record.name}") was revoked at ${record.revokedAt}`);
    if (record.expiresAt && Date.parse(record.expiresAt) <= Date.now()) {
      throw new UnauthenticatedError('expired', `token ${record.id} ("${record.name}") expired at ${record.expiresAt}`);
    }
    return { id: record.id, name: record.name, scopes: record.scopes };
  }

  /** Creates a token; the answer is the only place its secret ever appears. */
  async create(req: CreateTokenRequest): Promise<ApiTokenView & { token: string }> {
    if (req.expiresAt !== undefined && Date.parse(req.expiresAt) <= Date.now()) {
      throw new ValidationFailedError('token request is invalid', [`expiresAt: ${req.expiresAt} is not in the future`]);
    }
    await this.makeRoom();
    for (let attempt = 0; attempt < 5; attempt++) {
      const { token, id, secret } = generateApiToken();
      if (id === this.bootstrap.id) continue;
      const record: ApiTokenRecord = {
        id,
        name: req.name,
        scopes: [...new Set(req.scopes)],
        secretSha256: hashApiSecret(secret),
        createdAt: new Date().toISOString(),
        ...(req.expiresAt !== undefined ? { expiresAt: new Date(req.expiresAt).toISOString() } : {}),
      };
      if ((await this.store.create(id, record)) === undefined) continue;
      this.remember(id, record);
      this.logger.log(`token ${id} ("${record.name}", ${record.scopes.join(',')}) created`);
      return { ...view(record), token };
    }
    throw new ConflictException({ statusCode: 409, error: 'Conflict', message: 'could not find a free token id; try again' });
  }

  /** Every token without its secret or hash, the bootstrap one first. */
  async list(): Promise<ApiTokenView[]> {
    const stored = (await this.store.list()).map((e) => view(e.value)).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    return [{ id: this.bootstrap.id, name: 'bootstrap admin', scopes: ['admin'], createdAt: this.bootstrap.createdAt, bootstrap: true }, ...stored];
  }

  /** Revokes a token; from the next request on this orchestrator it is refused (401, "revoked"). */
  async revoke(id: string): Promise<ApiTokenView> {
    if (id === this.bootstrap.id) {
      throw new ConflictException({
        statusCode: 409,
        error: 'Conflict',
        message: `token ${id} is the bootstrap admin token (from ${this.bootstrap.source}); replace it there and restart the orchestrator`,
        code: 'LM_BOOTSTRAP_TOKEN',
      });
    }
    const entry = /^[a-z0-9]{1,32}$/.test(id) ? await this.store.get(id) : undefined;
    if (!entry) throw new NotFoundError(`token ${id} does not exist`);
    if (entry.value.revokedAt) return view(entry.value);
    const record = { ...entry.value, revokedAt: new Date().toISOString() };
    await this.store.put(id, record);
    this.remember(id, record);
    this.logger.log(`token ${id} ("${record.name}") revoked`);
    return view(record);
  }

  private async lookup(id: string): Promise<ApiTokenRecord | undefined> {
    const hit = this.cache.get(id);
    if (hit && hit.until > Date.now()) return hit.record;
    const record = (await this.store.get(id))?.value;
    this.remember(id, record);
    return record;
  }

  private remember(id: string, record: ApiTokenRecord | undefined): void {
    if (this.cache.size >= CACHE_ENTRIES) this.cache.clear();
    this.cache.set(id, { record, until: Date.now() + TOKEN_CACHE_MS });
  }

  /** At MAX_API_TOKENS, revoked and expired tokens go (their "revoked" answer becomes "unknown"); if none, the create is refused. */
  private async makeRoom(): Promise<void> {
    const keys = await this.store.keys();
    if (keys.length < MAX_API_TOKENS) return;
    const now = Date.now();
    for (const e of await this.store.list()) {
      if (e.value.revokedAt || (e.value.expiresAt && Date.parse(e.value.expiresAt) <= now)) {
        await this.store.purgeAt(e.key, e.revision);
        this.cache.delete(e.key);
      }
    }
    if ((await this.store.keys()).length >= MAX_API_TOKENS) {
      throw new ConflictException({ statusCode: 409, error: 'Conflict', message: `there are ${MAX_API_TOKENS} tokens already; revoke some first`, code: 'LM_TOKEN_LIMIT' });
    }
  }
}

function unknown(id: string): UnauthenticatedError {
  return new UnauthenticatedError('unknown', `unknown token: no token ${id} with this secret`);
}

function view(r: ApiTokenRecord): ApiTokenView {
  return {
    id: r.id,
    name: r.name,
    scopes: r.scopes,
    createdAt: r.createdAt,
    ...(r.expiresAt ? { expiresAt: r.expiresAt } : {}),
    ...(r.revokedAt ? { revokedAt: r.revokedAt } : {}),
  };
}
