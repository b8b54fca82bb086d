/**
 * The layering `npm run lint` checks (dependency-cruiser). The rules, exactly:
 *
 * - A service is a folder under services/ other than common/ (collector, identity-stitcher,
 *   profile-materializer, cli, and any added later). A service imports its own folder,
 *   services/common/, schemas/ and packages: never another service, never test/, bench/ or
 *   scripts/. The CLI is a service like the others: what it shares with one (checking and
 *   producing events) lives in services/common/.
 * - services/common/ imports no service, and services/index.ts (the package's `main`) imports
 *   only services/common/ and schemas/.
 * - schemas/ imports nothing from services/.
 * - No import circles anywhere, type-only imports included.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import circles make start-up order and reading order depend on each other.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-service-to-service',
      severity: 'error',
      comment: 'A service imports its own folder, services/common/ and schemas/ only (shared code goes to common).',
      from: { path: '^services/([^/]+)/', pathNot: '^services/common/' },
      to: { path: '^services/', pathNot: ['^services/$1/', '^services/common/'] },
    },
    {
      name: 'common-imports-no-service',
      severity: 'error',
      comment: 'services/common/ is what every service builds on: it must not depend on one.',
      from: { path: '^services/(common/|index\\.ts$)' },
      to: { path: '^services/', pathNot: '^services/common/' },
    },
    {
      name: 'schemas-import-no-service',
      severity: 'error',
      comment: 'schemas/ is the source of every topic shape; services depend on it, not the other way.',
      from: { path: '^schemas/' },
      to: { path: '^services/' },
    },
    {
      name: 'product-imports-no-tooling',
      severity: 'error',
      comment: 'What ships (services/, schemas/) never imports tests, benchmarks or scripts.',
      from: { path: '^(services|schemas)/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing is a typo or a missing package.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
