#!/usr/bin/env node

// The compiled CLI lives in dist/ (built by `npm ci` through the `prepare` script).
let cli;
try {
  cli = require('../dist/services/cli/main.js');
} catch (error) {
  if (error && error.code === 'MODULE_NOT_FOUND' && String(error.message).includes('dist/services/cli/main.js')) {
    process.stderr.write('kumiki: the CLI is not built yet; run `npm run build` (or `npm ci`) first\n');
    process.exit(1);
  }
  throw error;
}
cli.main(process.argv, process.env).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`kumiki: unexpected error: ${error?.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);
