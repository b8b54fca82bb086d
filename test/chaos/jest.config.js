/**
 * `npm run test:chaos` only (docs/chaos.md): the chaos soak is not part of `npm test`. It gets the
 * same real stack as the integration tests (the registry; the broker it bounces is its own).
 */
const path = require('node:path');
const base = require('../../jest.config');

const rootDir = path.resolve(__dirname, '..', '..');
const integration = base.projects.find((project) => project.displayName === 'integration');

module.exports = {
  rootDir,
  forceExit: true,
  projects: [
    {
      ...integration,
      rootDir,
      displayName: 'chaos',
      testMatch: ['<rootDir>/test/chaos/**/*.chaos-test.ts'],
    },
  ],
};
