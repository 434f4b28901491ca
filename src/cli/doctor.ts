import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { createSocket } from "node:dgram";
import { existsSync, mkdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer, isIP } from "node:net";
import { join } from "node:path";
import { ConfigError, type Config } from "../config.js";
import { keyMatches, selfSignedFiles } from "../tls/selfSigned.js";
import { configWithoutNewSecrets } from "./shared.js";

type Status = "ok" | "warn" | "problem" | "skip";
interface Check {
  name: string;
  status: Status;
  detail: string;
  /** What to do about it, in plain words. */
  fix?: string;
}

const LABEL: Record<Status, string> = { ok: "ok", warn: "warning", problem: "PROBLEM", skip: "skipped" };

/**
 * `parley doctor`: checks what usually goes wrong on a clinic's machine and
 * says what to do about each. Exit code 1 when anything would stop calls from
 * working; warnings alone exit 0.
 */
export async function doctor(env: NodeJS.ProcessEnv, out: NodeJS.WritableStream): Promise<number> {
  const checks: Check[] = [];
  let config: Config;
  try {
    config = configWithoutNewSecrets(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    checks.push({ name: "configuration", status: "problem", detail: err.message, fix: `correct ${err.variable} (see "parley --help")` });
    return report(checks, out);
  }
  checks.push({ name: "configuration", status: "ok", detail: "every PARLEY_* setting is valid" });

  checks.push(dataDirCheck(config));
  const server = await runningServer(config);
  checks.push(await httpPortCheck(config, server));
  checks.push(await turnPortCheck(config, server));
  checks.push(ffmpegCheck(config));
  checks.push(tlsCheck(config));
  checks.push(secureContextCheck(config));
  checks.push(await publicUrlCheck(config, server));
  return report(checks, out);
}

function report(checks: Check[], out: NodeJS.WritableStream): number {
  const problems = checks.filter((c) => c.status === "problem").length;
  const warnings = checks.filter((c) => c.status === "warn").length;
  const width = Math.max(...checks.map((c) => c.name.length));
  for (const c of checks) {
    out.write(`${LABEL[c.status].padEnd(8)} ${c.name.padEnd(width)}  ${c.detail}\n`);
    if (c.fix && c.status !== "ok") out.write(`${" ".repeat(10 + width)}-> ${c.fix}\n`);
  }
  out.write(
    problems
      ? `\n${problems} problem${problems > 1 ? "s" : ""} found${warnings ? ` and ${warnings} warning${warnings > 1 ? "s" : ""}` : ""}: fix ${problems > 1 ? "them" : "it"} and run "parley doctor" again.\n`
      : `\nNo problems found${warnings ? ` (${warnings} warning${warnings > 1 ? "s" : ""})` : ""}.\n`,
  );
  return problems ? 1 : 0;
}

function dataDirCheck(config: Config): Check {
  const name = "data dir";
  const probe = join(config.dataDir, `.doctor-${process.pid}`);
  try {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(probe, "x");
    rmSync(probe, { force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "EEXIST" || code === "ENOTDIR" ? "exists but is not a folder" : code === "EROFS" ? "is on a read-only file system" : code === "EACCES" || code === "EPERM" ? "is not writable by this user" : `cannot be written (${code ?? (err as Error).message})`;
    return { name, status: "problem", detail: `${config.dataDir} ${why}`, fix: "set PARLEY_DATA_DIR to a folder this user can write (the database, secrets and recordings live there)" };
  }
  try {
    const fs = statfsSync(config.dataDir);
    const freeGb = (fs.bavail * fs.bsize) / 1024 ** 3;
    if (freeGb < 1) return { name, status: "warn", detail: `${config.dataDir} is writable but only ${freeGb.toFixed(2)} GB are free`, fix: "free disk space: recordings need room (an hour of video is roughly 0.5-1 GB)" };
    return { name, status: "ok", detail: `${config.dataDir} is writable (${freeGb.toFixed(1)} GB free)` };
  } catch {
    return { name, status: "ok", detail: `${config.dataDir} is writable` };
  }
}

interface Running {
  version: string;
}

/** A Parley answering /health on this machine's PARLEY_PORT, if any. */
async function runningServer(config: Config): Promise<Running | undefined> {
  const scheme = config.tls.mode === "off" ? "http" : "https";
  const r = await probe(`${scheme}://127.0.0.1:${config.port}/health`, { insecure: true });
  if (r.body) {
    try {
      const body = JSON.parse(r.body) as { status?: string | number; version?: string; code?: string };
      if (body.status === "ok") return { version: body.version ?? "?" };
      // Starting up or draining: it is Parley all the same, holding the port.
      if (body.code === "starting" || body.code === "stopping") return { version: `(${body.code})` };
    } catch {
      /* not Parley */
    }
  }
  return undefined;
}

async function httpPortCheck(config: Config, server: Running | undefined): Promise<Check> {
  const name = "HTTP port";
  if (server) return { name, status: "ok", detail: `port ${config.port} is served by a running Parley ${server.version}` };
  const err = await tryListenTcp(config.port, config.host);
  if (!err) return { name, status: "ok", detail: `port ${config.port} on ${config.host} is free` };
  if (err === "EADDRINUSE") return { name, status: "problem", detail: `port ${config.port} is taken by another program`, fix: `stop that program (see: ss -ltnp 'sport = :${config.port}') or set PARLEY_PORT to a free port` };
  if (err === "EACCES") return { name, status: "problem", detail: `this user may not listen on port ${config.port}`, fix: "use a port above 1023 (PARLEY_PORT=8443), or grant CAP_NET_BIND_SERVICE" };
  return { name, status: "problem", detail: `cannot listen on ${config.host}:${config.port} (${err})`, fix: "check PARLEY_HOST is an address of this machine" };
}

function tryListenTcp(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    srv.listen(port, host, () => srv.close(() => resolve(undefined)));
  });
}

async function turnPortCheck(config: Config, server: Running | undefined): Promise<Check> {
  const name = "TURN port";
  if (config.turn.mode === "off") return { name, status: "warn", detail: "TURN is off: people behind strict firewalls (hospital, mobile networks) may not connect", fix: "unset PARLEY_TURN to use the embedded relay" };
  if (config.turn.mode === "external") return { name, status: "ok", detail: `external TURN server(s): ${config.turn.urls.join(", ")}` };
  const port = config.turn.port;
  const err = await tryBindUdp(port);
  if (!err) return { name, status: "ok", detail: `UDP port ${port} is free for the embedded relay (open it and ${config.turn.relayPorts.min}-${config.turn.relayPorts.max}/udp in the firewall)` };
  if (err === "EADDRINUSE") {
    const stun = await stunAnswers(port);
    if (server && stun) return { name, status: "ok", detail: `UDP port ${port} is answered by the running Parley's relay` };
    return {
      name,
      status: "problem",
      detail: stun ? `UDP port ${port} is held by another STUN/TURN server (coturn?)` : `UDP port ${port} is taken by another program`,
      fix: `stop that program (see: ss -lunp 'sport = :${port}'), set PARLEY_TURN_PORT to a free port, or use it with PARLEY_TURN=external`,
    };
  }
  return { name, status: "problem", detail: `cannot bind UDP port ${port} (${err})`, fix: "use a port above 1023 for PARLEY_TURN_PORT" };
}

function tryBindUdp(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = createSocket("udp4");
    sock.once("error", (e: NodeJS.ErrnoException) => {
      sock.close();
      resolve(e.code ?? e.message);
    });
    sock.bind(port, "0.0.0.0", () => sock.close(() => resolve(undefined)));
  });
}

/** Sends a STUN Binding request (RFC 5389 §6) and says whether a STUN response came back. */
function stunAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket("udp4");
    const req = Buffer.alloc(20);
    req.writeUInt16BE(0x0001, 0);
    req.writeUInt32BE(0x2112a442, 4);
    for (let i = 8; i < 20; i++) req[i] = Math.floor(Math.random() * 256);
    const done = (v: boolean) => {
      clearTimeout(timer);
      sock.close();
      resolve(v);
    };
    const timer = setTimeout(() => done(false), 1000);
    sock.on("message", (msg) => done(msg.length >= 20 && msg.readUInt32BE(4) === 0x2112a442 && msg.subarray(8, 20).equals(req.subarray(8, 20))));
    sock.on("error", () => done(false));
    sock.send(req, port, "127.0.0.1");
  });
}

function ffmpegCheck(config: Config): Check {
  const name = "ffmpeg";
  const r = spawnSync(config.recordings.ffmpegPath, ["-hide_banner", "-version"], { encoding: "utf8", timeout: 10_000 });
  if (r.status === 0) return { name, status: "ok", detail: (r.stdout.split("\n")[0] ?? "ffmpeg").trim() };
  return {
    name,
    status: "warn",
    detail: `"${config.recordings.ffmpegPath}" cannot be run: recordings are kept as uploaded, without duration or mp4 conversion`,
    fix: "install ffmpeg (Debian/Ubuntu: apt install ffmpeg) or set PARLEY_FFMPEG_PATH to it",
  };
}

function hostOf(url: string): string {
  return new URL(url).hostname.replace(/^\[|\]$/g, "");
}

function isLocalhost(host: string): boolean {
  return host === "localhost" || host.endsWith(".localhost") || host === "127.0.0.1" || host === "::1";
}

function tlsCheck(config: Config): Check {
  const name = "TLS certificate";
  if (config.tls.mode === "off") return { name, status: "skip", detail: "TLS is off (plain http)" };
  let certFile = config.tls.certFile;
  let keyFile = config.tls.keyFile;
  if (config.tls.mode === "self-signed") {
    const f = selfSignedFiles(config.dataDir);
    if (!existsSync(f.certFile)) return { name, status: "ok", detail: `a self-signed certificate will be made at the first start, in ${f.dir}` };
    certFile = f.certFile;
    keyFile = f.keyFile;
  }
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(certFile!);
    key = readFileSync(keyFile!);
  } catch (err) {
    return { name, status: "problem", detail: `cannot read ${(err as NodeJS.ErrnoException).path ?? certFile}`, fix: "check PARLEY_TLS_CERT / PARLEY_TLS_KEY point at PEM files this user can read" };
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    return { name, status: "problem", detail: `${certFile} is not a PEM certificate`, fix: "point PARLEY_TLS_CERT at the certificate (fullchain.pem with certbot)" };
  }
  if (!keyMatches(cert, key)) return { name, status: "problem", detail: `${keyFile} does not belong to ${certFile}`, fix: "point PARLEY_TLS_KEY at the certificate's own private key (privkey.pem with certbot)" };
  const days = Math.floor((Date.parse(x509.validTo) - Date.now()) / 86_400_000);
  const until = new Date(x509.validTo).toISOString().slice(0, 10);
  if (days < 0) return { name, status: "problem", detail: `${certFile} expired on ${until}`, fix: config.tls.mode === "self-signed" ? "restart parley: it re-issues its certificate" : "renew the certificate, then: kill -HUP <parley pid> (or systemctl reload parley)" };
  const host = hostOf(config.publicUrl);
  const covers = isIP(host) ? x509.checkIP(host) !== undefined : x509.checkHost(host) !== undefined;
  if (!covers) return { name, status: "problem", detail: `${certFile} does not cover ${host}, the host of PARLEY_PUBLIC_URL: browsers will refuse it`, fix: "use a certificate for that name, or set PARLEY_PUBLIC_URL to a name the certificate covers" };
  if (days < 14) return { name, status: "warn", detail: `valid for ${host}, but expires in ${days} days (${until})`, fix: "renew it soon, then: kill -HUP <parley pid>" };
  return { name, status: "ok", detail: `valid for ${host} until ${until} (${days} days)` };
}

function secureContextCheck(config: Config): Check {
  const name = "camera access";
  const url = new URL(config.publicUrl);
  if (url.protocol === "https:") return { name, status: "ok", detail: `${config.publicUrl} is https: browsers allow camera and microphone` };
  if (isLocalhost(hostOf(config.publicUrl)))
    return { name, status: "ok", detail: `${config.publicUrl} is localhost, which browsers treat as secure; other machines need https (PARLEY_TLS=self-signed for a LAN)` };
  return {
    name,
    status: "problem",
    detail: `${config.publicUrl} is plain http: browsers on other machines will not allow camera or microphone`,
    fix: "set PARLEY_TLS=self-signed (LAN) or PARLEY_TLS_CERT/PARLEY_TLS_KEY, and an https PARLEY_PUBLIC_URL",
  };
}

async function publicUrlCheck(config: Config, server: Running | undefined): Promise<Check> {
  const name = "public URL";
  if (!server) return { name, status: "skip", detail: `no Parley is running on port ${config.port}, so ${config.publicUrl} cannot be tried; start it and run "parley doctor" again` };
  const ca = config.tls.mode === "self-signed" && existsSync(selfSignedFiles(config.dataDir).caFile) ? readFileSync(selfSignedFiles(config.dataDir).caFile) : undefined;
  const r = await probe(`${config.publicUrl}/health`, { ca });
  if (r.ok) return { name, status: "ok", detail: `${config.publicUrl} answers from this machine` };
  return {
    name,
    status: "problem",
    detail: `${config.publicUrl}/health does not answer from this machine (${r.error ?? `HTTP ${r.status}`})`,
    fix: "check PARLEY_PUBLIC_URL: its name must resolve to this machine (or its proxy) and its port must reach Parley",
  };
}

/** A GET with a short timeout; `insecure` only for asking our own port whether Parley is there. */
function probe(url: string, opts: { ca?: Buffer; insecure?: boolean }): Promise<{ ok: boolean; status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      resolve({ ok: false, error: "not a URL" });
      return;
    }
    const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(
      u,
      { method: "GET", timeout: 3000, ...(u.protocol === "https:" ? { ca: opts.ca, rejectUnauthorized: !opts.insecure } : {}) },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          if (body.length < 65536) body += d;
        });
        res.on("end", () => resolve({ ok: res.statusCode === 200, status: res.statusCode, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 3 s")));
    req.on("error", (err: NodeJS.ErrnoException) => resolve({ ok: false, error: err.code ?? err.message }));
    req.end();
  });
}
