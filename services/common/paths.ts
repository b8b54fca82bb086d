import path from 'node:path';

/** Where local-mode state lives under KUMIKI_HOME (default `.kumiki/` in the working directory). */
export interface LocalPaths {
  readonly home: string;
  readonly kafkaData: string;
  readonly registryData: string;
  readonly clickhouseData: string;
  readonly logs: string;
  readonly run: string;
  readonly credentials: string;
  /** The key that encrypts the activator's destination secrets (mode 0600). */
  readonly secretsKey: string;
  /** The privacy key (keyed hashes of erased and suppressed people, report signatures), mode 0600. */
  readonly privacyKey: string;
  /** Downloaded runtimes (Kafka jars, registry) live outside the state so `rm -rf .kumiki` keeps them. */
  readonly cache: string;
}

export function localPaths(home: string, cacheDir: string): LocalPaths {
  const root = path.resolve(home);
  return {
    home: root,
    kafkaData: path.join(root, 'kafka'),
    registryData: path.join(root, 'registry'),
    clickhouseData: path.join(root, 'clickhouse'),
    logs: path.join(root, 'logs'),
    run: path.join(root, 'run'),
    credentials: path.join(root, 'credentials.json'),
    secretsKey: path.join(root, 'secrets.key'),
    privacyKey: path.join(root, 'privacy.key'),
    cache: path.resolve(cacheDir),
  };
}

/** Repository root, found from this compiled file (dist/services/common or services/common). */
export function projectRoot(): string {
  const here = __dirname;
  const marker = `${path.sep}dist${path.sep}services${path.sep}`;
  const index = here.lastIndexOf(marker);
  return index >= 0 ? here.slice(0, index) : path.resolve(here, '..', '..');
}
