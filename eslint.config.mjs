// The import-direction rule (docs/design.md, "Dependencies point one way"):
//   contracts  <- bus, media  <- runtime, stage-sdk  <- services  <- apps
// contracts imports no other lib; no lib imports an app; no app imports another app; every lib is
// reached through its package name (its src/index.ts is the only public door), never a deep path.
import tseslint from 'typescript-eslint';

const LIBS = ['contracts', 'bus', 'media', 'runtime', 'stage-sdk', 'services'];
const APPS = ['orchestrator', 'ingest', 'worker', 'delivery', 'cli'];
const allowed = {
  contracts: [],
  bus: ['contracts'],
  media: ['contracts'],
  runtime: ['contracts', 'bus', 'media'],
  'stage-sdk': ['contracts', 'bus', 'media'],
  services: ['contracts', 'media', 'stage-sdk'],
};

// NATS is the bus's business: everything else talks to it through @livemesh/bus (Bus, its stores
// and our own message types), so the technology can change in libs/bus alone.
const natsImports = { group: ['@nats-io/*', 'nats'], message: 'Only libs/bus talks to NATS: use the Bus (@livemesh/bus) and its types.' };

const deepImports = { group: ['@livemesh/*/*', '**/libs/**', '**/apps/**'], message: 'Import a lib by its package name (@livemesh/<lib>); its index.ts is the only public door, and apps are never imported.' };

const direction = [
  ...Object.entries(allowed).map(([lib, ok]) => ({
    files: [`libs/${lib}/src/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [...LIBS.filter((l) => l !== lib && !ok.includes(l)), ...APPS].map((n) => ({
          name: `@livemesh/${n}`,
          message: `libs/${lib} may import only ${ok.length ? ok.map((o) => '@livemesh/' + o).join(', ') : 'no other lib'} (dependencies point one way).`,
        })),
        patterns: lib === 'bus' ? [deepImports] : [deepImports, natsImports],
      }],
    },
  })),
  {
    files: APPS.map((a) => `apps/${a}/src/**/*.ts`),
    rules: {
      'no-restricted-imports': ['error', {
        paths: APPS.map((n) => ({ name: `@livemesh/${n}`, message: 'An app never imports another app: talk over NATS.' })),
        patterns: [deepImports, natsImports],
      }],
    },
  },
  {
    files: ['test/**/*.ts', 'examples/**/*.ts', 'scripts/**', 'bench/**'],
    ignores: ['test/support/support.e2e-spec.ts', 'test/support/nats-probe.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [natsImports] }] },
  },
  // test/support/support.e2e-spec.ts checks the test NATS server itself (request/reply, the
  // server's INFO), which the Bus deliberately does not offer; it may use the raw client. So may
  // test/support/nats-probe.ts, which tries what a stolen NATS credential would (the permission matrix).
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.livemesh/**', 'coverage/**', 'bench/results/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  ...direction,
  { files: ['scripts/**', 'bench/**', 'test/**', 'apps/cli/**', '**/*.spec.ts', 'examples/**'], rules: { 'no-console': 'off' } },
);
