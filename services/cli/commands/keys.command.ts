import type { Command } from 'commander';
import type { CliConfig } from '../config';
import { callReadApi, reportFailure } from './read-api.client';
import { formatTable } from './table-format';

/**
 * `kumiki keys create|list|revoke|rotate` over the read API's `/v1/keys` (scope keys:write;
 * the CLI uses the adminToken, or KUMIKI_ADMIN_TOKEN):
 *
 *   kumiki keys create --name NAME --role ROLE [--expires 90d] [--json]   prints the secret once
 *   kumiki keys list [--json]
 *   kumiki keys revoke ID
 *   kumiki keys rotate ID [--grace 24h] [--json]
 */
interface KeyBody {
  readonly id: string;
  readonly name: string;
  readonly role: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
  readonly previousSecretValidUntil: string | null;
  readonly secret?: string;
}

function printSecret(key: KeyBody, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ id: key.id, secret: key.secret, role: key.role })}\n`);
    return;
  }
  process.stdout.write(
    `key ${key.id} (${key.name}, role ${key.role}${key.expiresAt ? `, expires ${key.expiresAt}` : ''})\n` +
      `secret (shown once, keep it safe): ${key.secret}\n`,
  );
}

export function registerKeysCommands(
  program: Command,
  config: () => CliConfig,
  setExitCode: (code: number) => void,
): void {
  const keys = program.command('keys').description('API keys of the read API and the other keyed APIs');
  keys
    .command('create')
    .description('create a key; prints its secret once')
    .requiredOption('--name <name>', 'what the key is for')
    .requiredOption('--role <role>', 'admin, analyst, marketer or privacy-officer')
    .option('--expires <duration>', 'lifetime such as 90d, 12h or 30m')
    .option('--json', 'print { "id", "secret", "role" }', false)
    .action(async (options: { name: string; role: string; expires?: string; json: boolean }) => {
      const result = await callReadApi<KeyBody>(config(), 'POST', '/v1/keys', {
        name: options.name,
        role: options.role,
        ...(options.expires !== undefined ? { expires: options.expires } : {}),
      });
      if (!result.ok) return setExitCode(reportFailure('keys create', result));
      printSecret(result.body, options.json);
      setExitCode(0);
    });
  keys
    .command('list')
    .description('list keys (never their secrets)')
    .option('--json', 'print JSON', false)
    .action(async (options: { json: boolean }) => {
      const result = await callReadApi<{ keys: KeyBody[] }>(config(), 'GET', '/v1/keys');
      if (!result.ok) return setExitCode(reportFailure('keys list', result));
      if (options.json) process.stdout.write(`${JSON.stringify(result.body, null, 2)}\n`);
      else
        process.stdout.write(
          formatTable(
            result.body.keys.map((k) => ({
              id: k.id,
              name: k.name,
              role: k.role,
              created: k.createdAt,
              expires: k.expiresAt ?? '',
              revoked: k.revokedAt ?? '',
            })),
          ),
        );
      setExitCode(0);
    });
  keys
    .command('revoke <id>')
    .description('revoke a key at once, on every service')
    .action(async (id: string) => {
      const result = await callReadApi(config(), 'DELETE', `/v1/keys/${encodeURIComponent(id)}`);
      if (!result.ok) return setExitCode(reportFailure('keys revoke', result));
      process.stdout.write(`revoked ${id}\n`);
      setExitCode(0);
    });
  keys
    .command('rotate <id>')
    .description('give a key a new secret; the old one works for the grace period')
    .option('--grace <duration>', 'how long the old secret keeps working (default 24h)')
    .option('--json', 'print { "id", "secret", "role" }', false)
    .action(async (id: string, options: { grace?: string; json: boolean }) => {
      const result = await callReadApi<KeyBody>(
        config(),
        'POST',
        `/v1/keys/${encodeURIComponent(id)}/rotate`,
        options.grace !== undefined ? { grace: options.grace } : {},
      );
      if (!result.ok) return setExitCode(reportFailure('keys rotate', result));
      printSecret(result.body, options.json);
      if (!options.json && result.body.previousSecretValidUntil)
        process.stdout.write(`the previous secret works until ${result.body.previousSecretValidUntil}\n`);
      setExitCode(0);
    });
}
