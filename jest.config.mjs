// Two projects: `unit` (*.spec.ts beside the source: pure logic, fast) and `e2e` (test/**: real
// nats-server, ffmpeg and, where reachable, Docker). ts-jest transpiles only; `npm test` type-checks
// the whole tree with `tsc -b` first, so a type error still fails the run.
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^@livemesh/([a-z-]+)$': '<rootDir>/libs/$1/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.spec.json' }],
  },
  testEnvironment: 'node',
};

export default {
  // Jest 30 reads testTimeout only here, not per project. End-to-end tests run real media, and the
  // unit tests finish in milliseconds anyway, so one generous bound serves both.
  testTimeout: 180_000,
  // Each file's time at the end of the run (test/support/suite-times.reporter.mjs).
  reporters: ['default', '<rootDir>/test/support/suite-times.reporter.mjs'],
  projects: [
    { ...common, displayName: 'unit', rootDir: '.', testMatch: ['<rootDir>/{apps,libs}/*/src/**/*.spec.ts'] },
    { ...common, displayName: 'e2e', rootDir: '.', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'], slowTestThreshold: 60 },
  ],
};
