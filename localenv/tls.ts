import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A private certificate authority on disk, for loopback servers Ferry starts itself. */
export interface CertAuthority {
  certPath: string;
  keyPath: string;
  certPem: string;
}

/** A key pair signed by a CertAuthority. */
export interface IssuedCert {
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
}

export interface IssueOptions {
  /** Subject alternative names: IPs (127.0.0.1, ::1) and DNS names (localhost). */
  sans?: string[];
  /** Subject common name (kube-apiserver's user name for client certificates); default: `name`. */
  commonName?: string;
  /** Subject organization; kube-apiserver maps it to groups for client certificates. */
  organization?: string;
  /** Extended key usages; default server and client auth. */
  usages?: Array<'serverAuth' | 'clientAuth'>;
  days?: number;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Creates an EC P-256 CA in `dir` (ca.crt, ca.key). */
export async function createCertAuthority(dir: string, commonName: string): Promise<CertAuthority> {
  await mkdir(dir, { recursive: true });
  const keyPath = path.join(dir, 'ca.key');
  const certPath = path.join(dir, 'ca.crt');
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyPath]);
  await openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    keyPath,
    '-sha256',
    '-days',
    '3650',
    '-subj',
    `/CN=${commonName}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    certPath,
  ]);
  return { certPath, keyPath, certPem: await readFile(certPath, 'utf8') };
}

function sanEntry(san: string): string {
  return /^[0-9.]+$/.test(san) || san.includes(':') ? `IP:${san}` : `DNS:${san}`;
}

/** Issues `<name>.crt`/`<name>.key` in `dir`, signed by `ca`. */
export async function issueCertificate(
  ca: CertAuthority,
  dir: string,
  name: string,
  opts: IssueOptions = {},
): Promise<IssuedCert> {
  await mkdir(dir, { recursive: true });
  const keyPath = path.join(dir, `${name}.key`);
  const csrPath = path.join(dir, `${name}.csr`);
  const certPath = path.join(dir, `${name}.crt`);
  const extPath = path.join(dir, `${name}.ext`);
  const sans = opts.sans ?? ['127.0.0.1', 'localhost'];
  const usages = opts.usages ?? ['serverAuth', 'clientAuth'];
  const subject = `/CN=${opts.commonName ?? name}${opts.organization ? `/O=${opts.organization}` : ''}`;
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyPath]);
  await openssl(['req', '-new', '-key', keyPath, '-subj', subject, '-out', csrPath]);
  await writeFile(
    extPath,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${usages.join(',')}`,
      ...(sans.length ? [`subjectAltName=${sans.map(sanEntry).join(',')}`] : []),
    ].join('\n'),
  );
  await openssl([
    'x509',
    '-req',
    '-in',
    csrPath,
    '-CA',
    ca.certPath,
    '-CAkey',
    ca.keyPath,
    // A random serial per certificate: -CAcreateserial shares one ca.srl file, which concurrent
    // issues from one CA corrupt (seen in the agents' crash tests).
    '-set_serial',
    `0x${randomBytes(16).toString('hex')}`,
    '-days',
    String(opts.days ?? 825),
    '-sha256',
    '-extfile',
    extPath,
    '-out',
    certPath,
  ]);
  return {
    certPath,
    keyPath,
    certPem: await readFile(certPath, 'utf8'),
    keyPem: await readFile(keyPath, 'utf8'),
  };
}
