/**
 * The CA and the serving certificate, made with node-forge (RSA 2048, SHA-256; forge hands key
 * generation to node's native crypto). PEM strings in and out, so the store and the server do not
 * need forge.
 */
import { randomBytes } from 'node:crypto';
import forge from 'node-forge';

const { pki } = forge;

export interface KeyPair {
  cert: string;
  key: string;
}

/** What the webhook serves with and what the API server trusts. */
export interface CertBundle {
  ca: KeyPair;
  /** PEM of every CA the API server should trust: the current CA, plus the previous one while it lives. */
  caBundle: string;
  serving: KeyPair;
}

const DAY_MS = 24 * 60 * 60 * 1000;
export const CA_LIFETIME_MS = 10 * 365 * DAY_MS;
export const SERVING_LIFETIME_MS = 365 * DAY_MS;
/** Start validity a little in the past: nodes' clocks disagree by seconds to minutes. */
const BACKDATE_MS = 5 * 60 * 1000;

function serial(): string {
  // Positive (leading nibble < 8), 16 bytes, as RFC 5280 asks.
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

/** forge writes CRLF; the Secret, the caBundle and comparisons between them all want LF. */
const lf = (pem: string): string => pem.replace(/\r\n/g, '\n');

/** One PEM bundle from several certificates, in a canonical form so equal bundles compare equal. */
export function joinPem(pems: string[]): string {
  return pems.map((p) => lf(p).trim()).join('\n') + '\n';
}

function newKeys(): forge.pki.rsa.KeyPair {
  return pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
}

function validity(cert: forge.pki.Certificate, now: Date, lifetimeMs: number): void {
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = new Date(now.getTime() + lifetimeMs);
}

export function createCA(commonName: string, now = new Date(), lifetimeMs = CA_LIFETIME_MS): KeyPair {
  const keys = newKeys();
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  validity(cert, now, lifetimeMs);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true, pathLenConstraint: 0 },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: lf(pki.certificateToPem(cert)), key: lf(pki.privateKeyToPem(keys.privateKey)) };
}

const IP_RE = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:]*)$/i;

/** A serving certificate for `names` (DNS names or IP addresses), signed by `ca`. */
export function createServingCert(
  ca: KeyPair,
  names: string[],
  now = new Date(),
  lifetimeMs = SERVING_LIFETIME_MS,
): KeyPair {
  if (names.length === 0) throw new Error('a serving certificate needs at least one DNS name');
  const caCert = pki.certificateFromPem(ca.cert);
  const caKey = pki.privateKeyFromPem(ca.key);
  const keys = newKeys();
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  validity(cert, now, lifetimeMs);
  cert.setSubject([{ name: 'commonName', value: names[0]! }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: names.map((n) => (IP_RE.test(n) ? { type: 7, ip: n } : { type: 2, value: n })),
    },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: lf(pki.certificateToPem(cert)), key: lf(pki.privateKeyToPem(keys.privateKey)) };
}

/** A fresh CA and serving certificate: what a first start, or `--self-signed`, uses. */
export function createBundle(names: string[], now = new Date()): CertBundle {
  const ca = createCA('iochaos-webhook-ca', now);
  return { ca, caBundle: joinPem([ca.cert]), serving: createServingCert(ca, names, now) };
}

export interface CertInfo {
  notBefore: Date;
  notAfter: Date;
  names: string[];
}

export function certInfo(pem: string): CertInfo {
  const cert = pki.certificateFromPem(pem);
  const san = cert.getExtension('subjectAltName') as {
    altNames?: { type: number; value?: string; ip?: string }[];
  };
  return {
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
    names: (san?.altNames ?? []).map((a) => (a.type === 7 ? a.ip! : a.value!)),
  };
}

/** Every certificate in a PEM bundle, in order. */
export function splitPem(bundle: string): string[] {
  return lf(bundle).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/**
 * Renew when less than a third of the lifetime is left (cert-manager's default), so a replica that
 * checks only every few minutes is never near the edge.
 */
export function dueForRenewal(pem: string, now = new Date()): boolean {
  const { notBefore, notAfter } = certInfo(pem);
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return notAfter.getTime() - now.getTime() < lifetime / 3;
}

/** Whether `serving` is signed by `ca`, matches `key`, and covers `names`. */
export function servingCertFits(serving: KeyPair, ca: KeyPair, names: string[]): boolean {
  try {
    const caCert = pki.certificateFromPem(ca.cert);
    const cert = pki.certificateFromPem(serving.cert);
    if (!caCert.verify(cert)) return false;
    // A cert and key from two different writes (a torn manual edit) must not be served together.
    const priv = pki.privateKeyFromPem(serving.key);
    const pub = pki.publicKeyToPem(cert.publicKey);
    const fromKey = pki.publicKeyToPem(pki.setRsaPublicKey(priv.n, priv.e));
    if (pub !== fromKey) return false;
    const have = new Set(certInfo(serving.cert).names);
    return names.every((n) => have.has(n));
  } catch {
    return false;
  }
}
