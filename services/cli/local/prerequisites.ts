import { execFile } from 'node:child_process';
import { PrerequisiteMissingError } from '../errors';

/** Kafka 4 brokers and Apicurio Registry 3.0 both need Java 17. */
export const minimumJavaMajor = 17;

const externalHint = 'or run against existing services by setting KAFKA_BROKERS and SCHEMA_REGISTRY_URL';

export async function requireJava(javaCommand: string, env: Readonly<Record<string, string>>): Promise<void> {
  const result = await run(javaCommand, ['-version'], env);
  if (result === 'missing') {
    throw new PrerequisiteMissingError(
      `Java ${minimumJavaMajor}+ is needed to run Kafka and the schema registry locally, but \`${javaCommand}\` was not found. ` +
        `Install a JDK or JRE ${minimumJavaMajor}+ (e.g. \`apt install openjdk-17-jre-headless\`, \`brew install openjdk@17\`) or set JAVA_HOME, ${externalHint}.`,
      { command: javaCommand },
    );
  }
  const major = parseJavaMajor(result.output);
  if (major !== undefined && major < minimumJavaMajor) {
    throw new PrerequisiteMissingError(
      `Java ${minimumJavaMajor}+ is needed, but \`${javaCommand}\` is Java ${major}. Install a newer JDK and put it on PATH or set JAVA_HOME, ${externalHint}.`,
      { command: javaCommand, major },
    );
  }
}

export async function requireMaven(env: Readonly<Record<string, string>>): Promise<void> {
  if ((await run('mvn', ['-v'], env)) === 'missing') {
    throw new PrerequisiteMissingError(
      'Apache Maven (`mvn`) is needed once, to fetch Kafka and the schema registry from Maven Central on the first `kumiki up`. ' +
        `Install it (e.g. \`apt install maven\`, \`brew install maven\`), ${externalHint}.`,
      { command: 'mvn' },
    );
  }
}

/** `java -version` prints e.g. `openjdk version "17.0.15"` or `java version "1.8.0_392"`. */
export function parseJavaMajor(versionOutput: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!match) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] !== undefined ? Number(match[2]) : first;
}

function run(
  command: string,
  args: string[],
  env: Readonly<Record<string, string>>,
): Promise<'missing' | { output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env: { ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') resolve('missing');
      else resolve({ output: `${stdout}${stderr}` });
    });
  });
}
