// One jest config. Type checking is done once by `tsc -b` in `npm test`'s build step, so
// ts-jest only transpiles (isolatedModules) and the suites start fast.
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }] };
const moduleNameMapper = { '^@relay/(protocol|gateway)$': '<rootDir>/packages/$1/src', '^@relay/sdk$': '<rootDir>/packages/sdk/src' };

/** @type {import('jest').Config} */
module.exports = {
  // Tests that start processes and wait for real timeouts need more than jest's 5 s.
  testTimeout: 30_000,
  projects: [
    {
      displayName: 'unit',
      rootDir: __dirname,
      testMatch: ['<rootDir>/packages/*/src/**/*.test.ts'],
      transform,
      moduleNameMapper,
      testEnvironment: 'node',
    },
    {
      displayName: 'e2e',
      rootDir: __dirname,
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      transform,
      moduleNameMapper,
      testEnvironment: 'node',
    },
  ],
};
