import type { Command } from 'commander';
import type { CliConfig } from '../config';
import { callReadApi, parseIdentifier, reportFailure } from './read-api.client';

/**
 * `kumiki profile <type>:<value>` prints the profile an identifier belongs to;
 * `kumiki explain <type>:<value>` prints why its identifiers share that profile (each link with
 * the event and rule that made it). Both as JSON, from the read API.
 */
async function show(config: CliConfig, command: 'profile' | 'explain', raw: string): Promise<number> {
  const identifier = parseIdentifier(raw);
  if (!identifier) {
    process.stderr.write(
      `kumiki ${command}: expected <type>:<value>, e.g. email:ann@example.com (got ${JSON.stringify(raw)})\n`,
    );
    return 2;
  }
  const path = `/v1/profiles/${encodeURIComponent(identifier.type)}/${encodeURIComponent(identifier.value)}${command === 'explain' ? '/explain' : ''}`;
  const result = await callReadApi<unknown>(config, 'GET', path);
  if (!result.ok) return reportFailure(command, result);
  process.stdout.write(`${JSON.stringify(result.body, null, 2)}\n`);
  return 0;
}

export function registerProfileCommands(
  program: Command,
  config: () => CliConfig,
  setExitCode: (code: number) => void,
): void {
  program
    .command('profile')
    .description('show the profile of an identifier (traits, RFM, segments, consent)')
    .argument('<type:value>', 'e.g. email:ann@example.com or user_id:u-42')
    .action(async (raw: string) => setExitCode(await show(config(), 'profile', raw)));
  program
    .command('explain')
    .description("show why an identifier's profile holds each of its identifiers")
    .argument('<type:value>', 'e.g. email:ann@example.com')
    .action(async (raw: string) => setExitCode(await show(config(), 'explain', raw)));
}
