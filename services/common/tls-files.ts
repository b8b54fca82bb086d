import fs from 'node:fs';
import { ConfigError, errorMessage } from './errors';

/**
 * The certificates (PEM) of a private CA that a peer's certificate must chain to, read once at
 * start from the file a `*_CA_FILE` setting names. Unreadable or certificate-less is a
 * ConfigError naming that setting, so a typo stops the service at start rather than surfacing
 * later as a handshake failure.
 */
export function readCaFile(variable: string, file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([`${variable}=${JSON.stringify(file)}: cannot be read: ${errorMessage(error)}`]);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw new ConfigError([
      `${variable}=${JSON.stringify(file)}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    ]);
  return text;
}

/** Node's codes (and texts, where a library kept only the text) for a peer certificate that is not trusted. */
const untrustedCertificate =
  /CERT_|SELF_SIGNED|LEAF_SIGNATURE|ISSUER_CERT|self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer certificate|certificate has expired|does not match certificate's altnames/i;

/** True when a TLS connection failed because the peer's certificate is not trusted (or not for that host). */
export function isUntrustedCertificate(error: unknown): boolean {
  // By shape, not `instanceof Error`: errors of Node's own modules may come from another realm.
  for (let current = error, depth = 0; typeof current === 'object' && current !== null && depth < 8; depth++) {
    const { code, message, cause } = current as { code?: unknown; message?: unknown; cause?: unknown };
    if ([code, message].some((text) => typeof text === 'string' && untrustedCertificate.test(text))) return true;
    current = cause;
  }
  return false;
}

/**
 * The ConfigError for a peer whose certificate failed verification: names the CA setting, and
 * says whether that CA (or the system's, when it is unset) was what the certificate failed against.
 */
export function untrustedPeerError(
  peer: string,
  variable: string,
  caFile: string | undefined,
  error: unknown,
): ConfigError {
  const against = caFile
    ? `is not signed by the CA in ${variable}=${JSON.stringify(caFile)}`
    : `is not trusted by the system's CAs; set ${variable} to the PEM file of the CA that signed it`;
  return new ConfigError([`${variable}: the certificate of ${peer} ${against} (${errorMessage(error)})`]);
}
