import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { hostname, networkInterfaces } from "node:os";
import { isIP } from "node:net";
import { join } from "node:path";
import { bitString, boolean, explicit, implicit, integer, octetString, oid, sequence, set, time, utf8String, type Der } from "./der.js";

/**
 * PARLEY_TLS=self-signed: a small local authority (kept for ten years) signs
 * the server certificate. Devices trust the authority once (`ca.pem`); the
 * server certificate can then be re-issued — when the machine gets a new
 * address or it nears expiry — without anyone trusting anything again. This
 * is the mkcert model; a lone self-signed leaf would need re-trusting each time.
 */

const OID = {
  ecPublicKey: "1.2.840.10045.2.1",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  subjectKeyId: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyId: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
};

const DAY_MS = 86_400_000;
/** Apple refuses server certificates valid longer than 825 days even from a user-trusted authority. */
const LEAF_DAYS = 825;
const CA_DAYS = 3650;
/** Re-issue the server certificate when it has less than this left. */
const RENEW_BEFORE_DAYS = 30;

export interface SelfSignedFiles {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

export function selfSignedFiles(dataDir: string): SelfSignedFiles {
  const dir = join(dataDir, "tls");
  return { dir, caFile: join(dir, "ca.pem"), certFile: join(dir, "cert.pem"), keyFile: join(dir, "key.pem") };
}

/** Every name and address this machine may be reached by on a LAN. */
export function machineNames(extra: string[] = []): { dns: string[]; ips: string[] } {
  const dns = new Set<string>(["localhost"]);
  const ips = new Set<string>(["127.0.0.1", "::1"]);
  const host = hostname();
  if (host) {
    dns.add(host.toLowerCase());
    // mDNS: most LANs without a DNS server reach a machine as <name>.local.
    if (!host.includes(".")) dns.add(`${host.toLowerCase()}.local`);
  }
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      // Link-local addresses need a zone id, which no certificate or URL can carry usefully.
      if (a.family === "IPv6" && a.address.toLowerCase().startsWith("fe80")) continue;
      ips.add(a.address);
    }
  }
  for (const e of extra) {
    if (!e) continue;
    if (isIP(e)) ips.add(e);
    else dns.add(e.toLowerCase());
  }
  return { dns: [...dns].sort(), ips: [...ips].sort() };
}

export interface SelfSignedResult extends SelfSignedFiles {
  /** What happened on this call: made the authority and certificate, re-issued the certificate, or reused both. */
  action: "created" | "renewed" | "kept";
  names: { dns: string[]; ips: string[] };
  fingerprint: string;
  validTo: string;
}

/**
 * Makes the authority and the server certificate the first time, keeps them
 * afterwards, and re-issues only the server certificate when it no longer
 * covers the machine's names and addresses or nears its end.
 */
export function ensureSelfSigned(dataDir: string, extraNames: string[] = [], now = new Date()): SelfSignedResult {
  const files = selfSignedFiles(dataDir);
  const names = machineNames(extraNames);
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  const caKeyFile = join(files.dir, "ca-key.pem");

  let action: SelfSignedResult["action"] = "kept";
  let ca: { cert: X509Certificate; key: KeyObject };
  if (existsSync(files.caFile) && existsSync(caKeyFile)) {
    ca = { cert: new X509Certificate(readFileSync(files.caFile)), key: createPrivateKey(readFileSync(caKeyFile)) };
  } else {
    const key = newKey();
    const subject = name(`Parley local authority (${hostname()})`);
    const pem = issue({ subject, issuer: subject, publicKey: key.publicKey, signer: key.privateKey, days: CA_DAYS, now, ca: true });
    writePem(caKeyFile, key.privateKey.export({ type: "pkcs8", format: "pem" }) as string, 0o600);
    writePem(files.caFile, pem, 0o644);
    ca = { cert: new X509Certificate(pem), key: key.privateKey };
    action = "created";
  }

  const current = existsSync(files.certFile) && existsSync(files.keyFile) ? new X509Certificate(readFileSync(files.certFile)) : undefined;
  const fresh =
    current &&
    action === "kept" &&
    current.checkIssued(ca.cert) &&
    Date.parse(current.validTo) - now.getTime() > RENEW_BEFORE_DAYS * DAY_MS &&
    names.dns.every((d) => current.checkHost(d, { wildcards: false }) !== undefined) &&
    names.ips.every((ip) => current.checkIP(ip) !== undefined);
  if (!fresh) {
    const key = newKey();
    const pem = issue({
      subject: name(hostname() || "localhost"),
      issuer: certSubjectDer(ca.cert),
      publicKey: key.publicKey,
      signer: ca.key,
      issuerPublicKey: ca.cert.publicKey,
      days: LEAF_DAYS,
      now,
      ca: false,
      names,
    });
    writePem(files.keyFile, key.privateKey.export({ type: "pkcs8", format: "pem" }) as string, 0o600);
    // The chain a browser needs: the server certificate, then the authority.
    writePem(files.certFile, pem + readFileSync(files.caFile, "utf8"), 0o644);
    if (action === "kept") action = "renewed";
  }
  const leaf = new X509Certificate(readFileSync(files.certFile));
  return { ...files, action, names, fingerprint: leaf.fingerprint256, validTo: leaf.validTo };
}

function newKey() {
  // P-256 ECDSA: accepted by every browser, and fast to make on a small machine.
  return generateKeyPairSync("ec", { namedCurve: "prime256v1" });
}

function name(commonName: string): Der {
  return sequence(set(sequence(oid(OID.organization), utf8String("Parley"))), set(sequence(oid(OID.commonName), utf8String(commonName))));
}

/** The authority's subject exactly as encoded in its certificate, so the issuer name matches byte for byte. */
function certSubjectDer(cert: X509Certificate): Der {
  const tbs = children(children(cert.raw)[0]!);
  // tbsCertificate: [0] version, serial, signature, issuer, validity, subject, …
  return tbs[5]!;
}

/** The top-level elements inside one DER SEQUENCE. */
function children(der: Buffer): Buffer[] {
  const out: Buffer[] = [];
  const { start, end } = header(der, 0);
  for (let i = start; i < end; ) {
    const h = header(der, i);
    out.push(der.subarray(i, h.end));
    i = h.end;
  }
  return out;
}

function header(der: Buffer, at: number): { start: number; end: number } {
  let len = der[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + der[start + k]!;
    start += n;
  }
  return { start, end: start + len };
}

function keyId(publicKey: KeyObject): Buffer {
  // RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits; the SPKI's trailing bytes are those bits for EC keys.
  const spki = publicKey.export({ type: "spki", format: "der" });
  return createHash("sha1").update(spki.subarray(spki.length - 65)).digest();
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split(".").map(Number));
  const [head = "", tail = ""] = ip.split("::");
  const groups = (s: string) => (s ? s.split(":") : []);
  const h = groups(head);
  const t = ip.includes("::") ? groups(tail) : [];
  const all = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return Buffer.from(all.flatMap((g) => [(parseInt(g, 16) >> 8) & 0xff, parseInt(g, 16) & 0xff]));
}

function extension(id: string, critical: boolean, value: Der): Der {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

function issue(o: {
  subject: Der;
  issuer: Der;
  publicKey: KeyObject;
  signer: KeyObject;
  issuerPublicKey?: KeyObject;
  days: number;
  now: Date;
  ca: boolean;
  names?: { dns: string[]; ips: string[] };
}): string {
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  // Backdated an hour: a device whose clock runs a little behind still accepts it.
  const notBefore = new Date(o.now.getTime() - 3600_000);
  const notAfter = new Date(o.now.getTime() + o.days * DAY_MS);
  const exts: Der[] = [extension(OID.subjectKeyId, false, octetString(keyId(o.publicKey)))];
  if (o.ca) {
    exts.push(extension(OID.basicConstraints, true, sequence(boolean(true), integer(0))));
    // keyCertSign (bit 5) + cRLSign (bit 6).
    exts.push(extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1)));
  } else {
    exts.push(extension(OID.basicConstraints, true, sequence()));
    // digitalSignature (bit 0): all an ECDHE_ECDSA server key does.
    exts.push(extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)));
    exts.push(extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))));
    exts.push(extension(OID.authorityKeyId, false, sequence(implicit(0, keyId(o.issuerPublicKey!)))));
    const san = [...(o.names?.dns ?? []).map((d) => implicit(2, Buffer.from(d, "ascii"))), ...(o.names?.ips ?? []).map((ip) => implicit(7, ipBytes(ip)))];
    exts.push(extension(OID.subjectAltName, false, sequence(...san)));
  }
  const tbs = sequence(
    explicit(0, integer(2)),
    integer(serial),
    algorithm,
    o.issuer,
    sequence(time(notBefore), time(notAfter)),
    o.subject,
    o.publicKey.export({ type: "spki", format: "der" }),
    explicit(3, sequence(...exts)),
  );
  // For EC keys node's sign() returns the DER Ecdsa-Sig-Value X.509 expects.
  const signature = sign("sha256", tbs, o.signer);
  const der = sequence(tbs, algorithm, bitString(signature));
  return `-----BEGIN CERTIFICATE-----\n${der.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;
}

function writePem(file: string, pem: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, pem, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/** Sanity check used by doctor and the loader: the key belongs to the certificate. */
export function keyMatches(certPem: string | Buffer, keyPem: string | Buffer): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

