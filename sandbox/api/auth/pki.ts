/**
 * The sandbox's credentials, generated once per state directory and kept in
 * `DIR/pki/` (mode 0600), so `sandbox down`/`up` keeps every kubeconfig,
 * mounted token and pinned CA valid: a CA, the API server's serving
 * certificate, the ServiceAccount token signing key (ES256) and the admin
 * bearer token.
 *
 * X.509 comes from @peculiar/x509 (node:crypto parses certificates but cannot
 * issue them): pure JavaScript over WebCrypto, so the sandbox needs no
 * `openssl` binary on laptops, CI or in its image. Keys are ECDSA P-256: key
 * generation is instant, which matters because every test sandbox is a new DIR.
 */
import 'reflect-metadata';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export interface SandboxCredentials {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  saPrivateKey: KeyObject;
  saPublicKey: KeyObject;
  adminToken: string;
}

/** Names a client may dial: loopback for kubectl and pods (host network), the in-cluster Service names for everyone else. */
export const SERVING_NAMES = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];
export const SERVING_IPS = ['127.0.0.1', '10.96.0.1', '::1'];

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

function writeSecret(path: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
}

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
}

function serial(): string {
  // Positive, non-zero 16-byte serial (RFC 5280 §4.1.2.2).
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

async function newCa(now: Date): Promise<{ pem: string; keys: CryptoKeyPair }> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=coffer-sandbox-ca',
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 3650 * DAY),
    keys,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { pem: cert.toString('pem'), keys };
}

async function newServingCert(caPem: string, caKey: CryptoKey, now: Date): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ca = new x509.X509Certificate(caPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: 'CN=kube-apiserver',
    issuer: ca.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 365 * DAY),
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([...SERVING_NAMES.map((value) => ({ type: 'dns' as const, value })), ...SERVING_IPS.map((value) => ({ type: 'ip' as const, value }))]),
      await x509.AuthorityKeyIdentifierExtension.create(ca, false, webcrypto as unknown as Crypto),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await pkcs8Pem(keys.privateKey) };
}

/** Reads `DIR/pki`, creating what is missing; a serving certificate within 30 days of expiry is renewed. */
export async function loadCredentials(dir: string, now = new Date()): Promise<SandboxCredentials> {
  const pki = join(dir, 'pki');
  mkdirSync(pki, { recursive: true, mode: 0o700 });
  const f = (n: string) => join(pki, n);
  const read = (n: string) => (existsSync(f(n)) ? readFileSync(f(n), 'utf8') : undefined);

  let caPem = read('ca.crt');
  let caKeyPem = read('ca.key');
  const newAuthority = !caPem || !caKeyPem;
  if (newAuthority) {
    const ca = await newCa(now);
    caPem = ca.pem;
    caKeyPem = await pkcs8Pem(ca.keys.privateKey);
    writeSecret(f('ca.key'), caKeyPem);
    writeSecret(f('ca.crt'), caPem);
  }
  let serverCertPem = read('apiserver.crt');
  let serverKeyPem = read('apiserver.key');
  const stale = newAuthority || !serverCertPem || !serverKeyPem || Date.parse(new X509Certificate(serverCertPem).validTo) - now.getTime() < 30 * DAY;
  if (stale) {
    const caKey = await webcrypto.subtle.importKey('pkcs8', createPrivateKey(caKeyPem!).export({ type: 'pkcs8', format: 'der' }), EC, false, ['sign']);
    const s = await newServingCert(caPem!, caKey, now);
    serverCertPem = s.certPem;
    serverKeyPem = s.keyPem;
    writeSecret(f('apiserver.key'), serverKeyPem);
    writeSecret(f('apiserver.crt'), serverCertPem);
  }

  let saKeyPem = read('sa.key');
  if (!saKeyPem) {
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    saKeyPem = await pkcs8Pem(keys.privateKey);
    writeSecret(f('sa.key'), saKeyPem);
  }
  const saPrivateKey = createPrivateKey(saKeyPem);

  let adminToken = read('admin.token')?.trim();
  if (!adminToken) {
    adminToken = randomBytes(32).toString('base64url');
    writeSecret(f('admin.token'), `${adminToken}\n`);
  }
  return { caPem: caPem!, serverCertPem: serverCertPem!, serverKeyPem: serverKeyPem!, saPrivateKey, saPublicKey: createPublicKey(saPrivateKey), adminToken };
}
