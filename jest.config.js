/** Three tiers (STYLE.md): unit tests need nothing; integration and e2e tests get the real stack. */
const os = require('node:os');

const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } },
  ],
};

module.exports = {
  // A global option: jest ignores it inside a project.
  testTimeout: 120000,
  // Two files at once even on two cores (jest's default there is one): most integration time is
  // spent waiting on a real broker (rebalances, session timeouts, restarts), and two overlap.
  // Every test has its own topics, groups and database, so they cannot meet.
  maxWorkers: Math.max(2, os.availableParallelism() - 1),
  // Some client libraries keep sockets or timers alive after close (kafkajs reconnect timers,
  // keep-alive agents). A test run must end when its tests have, never hang CI.
  forceExit: true,
  projects: [
    { displayName: 'unit', testEnvironment: 'node', transform, testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/integration/**/*.test.ts', '<rootDir>/test/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
