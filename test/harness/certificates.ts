import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Throwaway TLS material for tests, made with the `openssl` CLI: every file lives in `dir`. */
export interface TestCertificates {
  /** The CA that signed the server and client certificates. */
  readonly caFile: string;
  /** Server certificate for 127.0.0.1 and localhost, and its key (PKCS#8, unencrypted). */
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  /** Server key and certificate in one file, as Kafka's PEM keystore takes them. */
  readonly serverKeystoreFile: string;
  /** Client certificate (for servers that ask for one) and its key. */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** A CA that signed none of the above: trusting only it refuses the server. */
  readonly otherCaFile: string;
  /** PEM text of a file above. */
  pem(file: string): string;
}

/** Makes a CA, a server and a client certificate signed by it, and an unrelated CA, in `dir` (about a second). */
export function makeCertificates(dir: string): TestCertificates {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const file = (name: string) => path.join(dir, name);
  const newCa = (name: string, subject: string) =>
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', subject);
  const signed = (name: string, subject: string, extensions: string) => {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    writeFileSync(file(`${name}.ext`), `${extensions}\n`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  };
  newCa('ca', '/CN=Braid test CA');
  newCa('other-ca', '/CN=Another test CA');
  signed('server', '/CN=localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth');
  signed('client', '/CN=braid', 'extendedKeyUsage=clientAuth');
  writeFileSync(file('server-keystore.pem'), readFileSync(file('server.key'), 'utf8') + readFileSync(file('server.pem'), 'utf8'));
  return {
    caFile: file('ca.pem'),
    serverCertFile: file('server.pem'),
    serverKeyFile: file('server.key'),
    serverKeystoreFile: file('server-keystore.pem'),
    clientCertFile: file('client.pem'),
    clientKeyFile: file('client.key'),
    otherCaFile: file('other-ca.pem'),
    pem: (name) => readFileSync(name, 'utf8'),
  };
}
