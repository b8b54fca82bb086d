import type { Command } from 'commander';
import { readCredentials } from '../../common/credentials';
import { errorMessage } from '../../common/errors';
import type { CliConfig } from '../config';
import { serviceUrl } from '../local/services';

/**
 * `kumiki send <type> [json]`: one event through the collector, with the local write key
 * (from `.kumiki/credentials.json`), exactly as an SDK would send it. Prints the collector's
 * answer; exit code 0 when it accepted the event.
 *
 *   kumiki send track '{"userId":"u1","event":"Order Completed","properties":{"order_id":"o1","revenue":10}}'
 */
const types = ['track', 'identify', 'page', 'screen', 'group', 'alias'];

export async function sendCommand(config: CliConfig, type: string, json: string | undefined): Promise<number> {
  if (!types.includes(type)) {
    process.stderr.write(`kumiki send: <type> must be one of ${types.join(', ')}\n`);
    return 2;
  }
  let body: unknown;
  try {
    body = JSON.parse(json ?? '{}');
  } catch (error) {
    process.stderr.write(`kumiki send: the event is not JSON: ${errorMessage(error)}\n`);
    return 2;
  }
  const credentials = await readCredentials(config.paths.credentials);
  if (!credentials) {
    process.stderr.write(
      `kumiki send: no write key: ${config.paths.credentials} does not exist (run \`kumiki up\` first)\n`,
    );
    return 1;
  }
  const url = `${serviceUrl(config.ports.collector)}/v1/${type}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${credentials.writeKey}:`).toString('base64')}`,
      },
      body: JSON.stringify(body),
    });
  } catch (error) {
    process.stderr.write(
      `kumiki send: the collector at ${url} does not answer (${errorMessage(error)}); is \`kumiki up\` running?\n`,
    );
    return 1;
  }
  const text = await response.text();
  (response.ok ? process.stdout : process.stderr).write(`${response.status} ${text}\n`);
  return response.ok ? 0 : 1;
}

/** Adds `kumiki send` to the CLI (main.ts calls this once). */
export function registerSendCommand(
  program: Command,
  config: () => CliConfig,
  setExitCode: (code: number) => void,
): void {
  program
    .command('send')
    .description('send one event to the collector with the local write key')
    .argument('<type>', types.join('|'))
    .argument('[json]', 'the event, e.g. \'{"userId":"u1","event":"Signed Up"}\'')
    .action(async (type: string, json: string | undefined) => {
      setExitCode(await sendCommand(config(), type, json));
    });
}
