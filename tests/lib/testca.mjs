// A test certificate authority made with openssl: a CA, and a server certificate signed by
// it for the given IP addresses (and localhost). For TLS tests of the server and of clients.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const openssl = (dir, ...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A CA and a certificate for `ips` signed by it, in `dir`: { ca, cert, key } (file paths). */
export function makeCa(dir, name, { ips = ['127.0.0.1'] } = {}) {
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '2', '-subj', `/CN=Huddle ${name} test CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}-server.key`, '-out', `${name}-server.csr`, '-subj', `/CN=${ips[0]}`);
  const san = [...ips.map((ip) => `IP:${ip}`), 'DNS:localhost'].join(',');
  writeFileSync(
    path.join(dir, `${name}-ext.cnf`),
    `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  openssl(dir, 'x509', '-req', '-in', `${name}-server.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`,
    '-CAcreateserial', '-out', `${name}-server.pem`, '-days', '2', '-extfile', `${name}-ext.cnf`);
  return {
    ca: path.join(dir, `${name}-ca.pem`),
    cert: path.join(dir, `${name}-server.pem`),
    key: path.join(dir, `${name}-server.key`),
  };
}
