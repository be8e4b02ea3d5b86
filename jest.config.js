/**
 * Jest runs the TypeScript sources as native ES modules (ts-jest `useESM`), so ESM-only dependencies such as
 * p-limit load as they do for users, and `import.meta` works in the example helpers the tests share.
 * `npm test` sets NODE_OPTIONS=--experimental-vm-modules for that.
 * @type {import('jest').Config}
 */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: false }],
  },
  testTimeout: 120_000,
  // Integration suites share one engine: run test files one after another so concurrency measurements hold.
  maxWorkers: 1,
};
