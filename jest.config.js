// One jest config. Type checking is done once by `tsc -b` in `npm test`'s build step, so
// ts-jest only transpiles (isolatedModules) and the suites start fast.
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }] };
const moduleNameMapper = { '^@relay/(protocol|gateway)$': '<rootDir>/packages/$1/src', '^@relay/sdk$': '<rootDir>/packages/sdk/src' };

/** @type {import('jest').Config} */
module.exports = {
  // Tests that start processes and wait for real timeouts need more than jest's 5 s.
  testTimeout: 30_000,
  // On two cores jest runs every suite in its own process, one after another, so anything a
  // suite leaves running (a child process whose teardown timed out) would keep that process, and
  // CI, alive after the results: once it hung a CI run for an hour. Test processes are stopped
  // with a SIGKILL bound (test/support/stop-process.ts); this is the net under that.
  forceExit: true,
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
