import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Config } from "../config.js";
import { ConfigError } from "../config.js";
import { ensureSelfSigned, keyMatches } from "./selfSigned.js";

/** What the HTTPS server is given, plus what the start-up line and doctor say about it. */
export interface TlsMaterial {
  key: Buffer;
  cert: Buffer;
  /** The certificate's end of validity (ISO). */
  validTo: string;
  fingerprint: string;
  /** PARLEY_TLS=self-signed: the authority devices should trust. */
  caFile?: string;
  /** One or two sentences for the console: what is served and, for self-signed, how to trust it. */
  notice: string;
}

/**
 * Reads (or, for PARLEY_TLS=self-signed, makes) the certificate and key.
 * Called at start and again on SIGHUP, so a renewed certificate (certbot,
 * an internal CA) is picked up without a restart.
 */
export function loadTls(config: Config): TlsMaterial | undefined {
  if (config.tls.mode === "off") return undefined;
  if (config.tls.mode === "self-signed") {
    const host = hostOf(config.publicUrl);
    const r = ensureSelfSigned(config.dataDir, [host, config.turn.externalIp ?? ""].filter(Boolean));
    const names = [...r.names.dns.filter((d) => d !== "localhost"), ...r.names.ips.filter((ip) => ip !== "127.0.0.1" && ip !== "::1")];
    return {
      key: readFileSync(r.keyFile),
      cert: readFileSync(r.certFile),
      validTo: new Date(r.validTo).toISOString(),
      fingerprint: r.fingerprint,
      caFile: r.caFile,
      notice:
        `TLS: self-signed certificate (${r.action}) for ${names.join(", ") || "localhost"}, valid until ${new Date(r.validTo).toISOString().slice(0, 10)}.\n` +
        `  To trust it, install ${r.caFile} once on each device as a trusted certificate authority` +
        ` (or accept the browser's warning; SHA-256 ${r.fingerprint}).`,
    };
  }
  const certFile = config.tls.certFile!;
  const keyFile = config.tls.keyFile!;
  const cert = readPem("PARLEY_TLS_CERT", certFile);
  const key = readPem("PARLEY_TLS_KEY", keyFile);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new ConfigError("PARLEY_TLS_CERT", `${certFile} is not a PEM certificate (${(err as Error).message})`);
  }
  if (!keyMatches(cert, key)) throw new ConfigError("PARLEY_TLS_KEY", `${keyFile} is not the private key of the certificate in ${certFile}`);
  const validTo = new Date(x509.validTo).toISOString();
  const expired = Date.parse(validTo) < Date.now();
  return {
    key,
    cert,
    validTo,
    fingerprint: x509.fingerprint256,
    notice: `TLS: ${certFile} (${subjectNames(x509)}), ${expired ? "EXPIRED on" : "valid until"} ${validTo.slice(0, 10)}; send SIGHUP to reload it after renewal.`,
  };
}

function readPem(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(variable, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return "";
  }
}

/** The DNS names and addresses a certificate covers, for messages. */
export function subjectNames(x509: X509Certificate): string {
  const san = x509.subjectAltName;
  if (san) return san.replace(/DNS:|IP Address:/g, "");
  return x509.subject.replace(/\n/g, ", ");
}
