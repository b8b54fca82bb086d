import { Command } from 'commander';
import { ConfigError, KumikiError, errorMessage } from '../common/errors';
import type { Env } from '../common/config';
import { loadCliConfig, type CliConfig } from './config';
import { upCommand } from './commands/up.command';
import { downCommand } from './commands/down.command';
import { statusCommand } from './commands/status.command';
import { registerImportCommand } from './commands/import.command';
import { registerSendCommand } from './commands/send.command';
import { registerSqlCommand } from './commands/sql.command';
import { registerProfileCommands } from './commands/profile.command';
import { registerDemoCommand } from './commands/demo.command';
import { registerSegmentCommands } from './commands/segment.command';
import { registerKeysCommands } from './commands/keys.command';
import { registerAuditCommands } from './commands/audit.command';
import { registerPredictCommands } from './commands/predict.command';
import { registerDestinationCommands } from './commands/destination.command';
import { registerPrivacyCommands } from './commands/privacy.command';

/**
 * The `kumiki` command line. The environment is read once, here; each command gets the
 * parsed config and returns its exit code. Errors kumiki knows about print as one clear
 * message; anything else is a bug and keeps its stack trace.
 */
export async function main(argv: readonly string[], environment: Env): Promise<number> {
  let exitCode = 0;
  const config = (): CliConfig => loadCliConfig(environment);
  const program = new Command()
    .name('kumiki')
    .description('Event-streaming Customer Data Platform: local stack and tools')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('up')
    .description('start Kafka, the schema registry and the four services on this machine')
    .option('-d, --detach', 'return once everything is ready and leave it running', false)
    .action(async (options: { detach: boolean }) => {
      exitCode = await upCommand(config(), { detach: options.detach });
    });
  program
    .command('down')
    .description('stop the stack started by `kumiki up`')
    .action(async () => {
      exitCode = await downCommand(config());
    });
  program
    .command('status')
    .description('show whether each component answers (exit code 0 when all are up)')
    .option('--json', 'print JSON instead of a table', false)
    .action(async (options: { json: boolean }) => {
      exitCode = await statusCommand(config(), { json: options.json });
    });

  registerSendCommand(program, config, (code) => (exitCode = code));
  registerImportCommand(program, config, (code) => (exitCode = code));
  registerSqlCommand(program, config, (code) => (exitCode = code));
  registerProfileCommands(program, config, (code) => (exitCode = code));
  registerDemoCommand(program, config, (code) => (exitCode = code));
  registerSegmentCommands(program, config, (code) => (exitCode = code));
  registerKeysCommands(program, config, (code) => (exitCode = code));
  registerAuditCommands(program, config, (code) => (exitCode = code));
  registerPredictCommands(program, config, (code) => (exitCode = code));
  registerDestinationCommands(program, config, (code) => (exitCode = code));
  registerPrivacyCommands(program, config, (code) => (exitCode = code));

  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      return code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help' ? 0 : 2;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`kumiki: ${error.message}\n`);
      return 2;
    }
    if (error instanceof KumikiError) {
      process.stderr.write(`kumiki: ${errorMessage(error)}\n`);
      return 1;
    }
    throw error;
  }
  return exitCode;
}
