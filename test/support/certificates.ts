import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';

/**
 * Certificates made for a test by the tools a user would use (openssl, keytool), all for
 * 127.0.0.1 and valid for a day. Private keys are written mode 0600.
 */
export interface CertificateAuthority {
  /** The CA's certificate (PEM): what a client is configured to trust. */
  readonly certFile: string;
  readonly keyFile: string;
}

export interface ServerCertificate {
  readonly certFile: string;
  readonly keyFile: string;
}

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

function selfSigned(dir: string, name: string, subject: string, extensions: readonly string[]): ServerCertificate {
  const certFile = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}.key`);
  openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', subject, ...extensions].concat([
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ]),
  );
  fs.chmodSync(keyFile, 0o600);
  return { certFile, keyFile };
}

/** A self-signed CA named `name`. */
export function makeCertificateAuthority(dir: string, name: string): CertificateAuthority {
  return selfSigned(dir, name, `/CN=${name}`, []);
}

/** A server certificate for 127.0.0.1 signed by `ca`. */
export function issueServerCertificate(ca: CertificateAuthority, dir: string, name: string): ServerCertificate {
  const certFile = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}.key`);
  const request = path.join(dir, `${name}.csr`);
  const extensions = path.join(dir, `${name}.ext`);
  fs.writeFileSync(extensions, 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', keyFile, '-out', request]);
  fs.chmodSync(keyFile, 0o600);
  openssl(
    ['x509', '-req', '-in', request, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial'].concat([
      '-days',
      '1',
      '-extfile',
      extensions,
      '-out',
      certFile,
    ]),
  );
  return { certFile, keyFile };
}

/** A self-signed certificate for 127.0.0.1 (its own CA), in PEM. */
export function makeSelfSignedCertificate(dir: string, name: string): ServerCertificate {
  return selfSigned(dir, name, '/CN=127.0.0.1', ['-addext', 'subjectAltName=IP:127.0.0.1']);
}

/** A self-signed certificate for 127.0.0.1 made by keytool: a PKCS12 keystore and its certificate in PEM. */
export function makeKeystore(dir: string, password: string): { keystore: string; ca: string } {
  const keystore = path.join(dir, 'broker.p12');
  const ca = path.join(dir, 'ca.pem');
  const store = ['-keystore', keystore, '-storepass', password];
  execFileSync(
    'keytool',
    ['-genkeypair', '-alias', 'broker', '-keyalg', 'RSA', '-keysize', '2048', '-validity', '2']
      .concat(['-dname', 'CN=127.0.0.1', '-ext', 'SAN=IP:127.0.0.1', '-storetype', 'PKCS12', ...store])
      .concat(['-keypass', password]),
  );
  execFileSync('keytool', ['-exportcert', '-rfc', '-alias', 'broker', ...store, '-file', ca]);
  return { keystore, ca };
}

/** The status of a GET of `url` from a server whose certificate `caFile`'s CA signed (to wait for one to answer). */
export function httpsStatus(url: string, caFile: string, auth?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca: fs.readFileSync(caFile), agent: false, ...(auth ? { auth } : {}) }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      })
      .on('error', reject);
  });
}
