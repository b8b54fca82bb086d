/**
 * Where the CLI's progress lines go. A pino logger fits (its `info(message)` form), as does
 * the plain console reporter `kumiki up` uses for people at a terminal.
 */
export interface CliLog {
  info(message: string): void;
  warn(message: string): void;
}

export const consoleLog: CliLog = {
  info: (message) => process.stdout.write(`kumiki: ${message}\n`),
  warn: (message) => process.stderr.write(`kumiki: ${message}\n`),
};

export const silentLog: CliLog = { info: () => undefined, warn: () => undefined };
