import { upgradeWebSocket } from "@hono/node-server";
import { Hono } from "hono";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import WebSocket from "ws";
import type { CapabilityFactory } from "../src/server.js";
import { ensureSelfSigned } from "../src/tls/selfSigned.js";
import { startTestServer, tempDir, type TestServer } from "./helpers/server.js";

/** A WebSocket echo route, so these tests exercise WSS without depending on signaling. */
const echo: CapabilityFactory = () => ({
  name: "echo",
  routes: () =>
    new Hono().get(
      "/test-echo",
      upgradeWebSocket(() => ({ onMessage: (e, ws) => ws.send(String(e.data)) })),
    ),
});

function httpsGet(url: string, ca: Buffer | Buffer[]): Promise<{ status: number; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, agent: false }, (res) => {
      const fingerprint = (res.socket as import("node:tls").TLSSocket).getPeerCertificate().fingerprint256;
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, fingerprint }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The SHA-256 fingerprint of the certificate a fresh TLS connection is given. */
function servedFingerprint(port: number, ca: Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on("error", reject);
  });
}

function openEcho(url: string, ca: Buffer | Buffer[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ca });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function roundTrip(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.once("message", (d) => resolve(String(d)));
    ws.once("close", () => reject(new Error("socket closed")));
    ws.send(text);
  });
}

function tlsConnectRaw(port: number) {
  return netConnect({ host: "127.0.0.1", port });
}

/** Two independent authorities with a server certificate each: "before" and "after" a renewal. */
function twoCertificates() {
  const a = ensureSelfSigned(tempDir("parley-tls-a-"));
  const b = ensureSelfSigned(tempDir("parley-tls-b-"));
  return { a, b, ca: [readFileSync(a.caFile), readFileSync(b.caFile)] };
}

describe("built-in TLS", () => {
  const cleanup: (() => unknown)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it("PARLEY_TLS=self-signed serves https and wss that a client trusting the local authority accepts", async () => {
    const s = await startTestServer({ PARLEY_TLS: "self-signed" }, { extra: [echo] });
    cleanup.push(() => s.close());
    assert.match(s.url, /^https:\/\//);
    const ca = readFileSync(join(s.dataDir, "tls", "ca.pem"));
    const res = await httpsGet(`${s.url}/health`, ca);
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).status, "ok");
    const ws = await openEcho(`${s.wsUrl}/test-echo`, ca);
    assert.equal(await roundTrip(ws, "over wss"), "over wss");
    ws.close();
    // The certificate names this machine for LAN use, and is kept across restarts.
    const cert = new X509Certificate(readFileSync(join(s.dataDir, "tls", "cert.pem")));
    assert.match(cert.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
    assert.match(cert.subjectAltName ?? "", /DNS:localhost/);
    assert.ok(s.running.tls?.notice.includes("ca.pem"), "the start-up notice says which file to trust");
    const again = await s.restart();
    cleanup.push(() => again.close());
    assert.equal(again.running.tls?.fingerprint, cert.fingerprint256);
  });

  it("a client without the authority is refused (the certificate is not trusted by accident)", async () => {
    const s = await startTestServer({ PARLEY_TLS: "self-signed" });
    cleanup.push(() => s.close());
    await assert.rejects(httpsGet(`${s.url}/health`, []), /self-signed|unable to (get|verify)|certificate/i);
  });

  it("plain http to the TLS port gets a redirect to https, never an unencrypted page, and https keeps working", async () => {
    const s = await startTestServer({ PARLEY_TLS: "self-signed", PARLEY_PUBLIC_URL: "https://clinic.local:8443" });
    cleanup.push(() => s.close());
    const plain = await new Promise<{ status?: number; location?: string; body: string; error?: string }>((resolve) => {
      const req = httpGet(`http://127.0.0.1:${s.port}/join/abc?x=1`, { agent: false, timeout: 10_000 }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode, location: res.headers.location, body }));
      });
      req.on("timeout", () => req.destroy(new Error("hung")));
      req.on("error", (err: NodeJS.ErrnoException) => resolve({ body: "", error: err.code ?? err.message }));
    });
    assert.equal(plain.error, undefined);
    assert.equal(plain.status, 308);
    assert.equal(plain.location, "https://clinic.local:8443/join/abc?x=1");
    assert.doesNotMatch(plain.body, /<html|status/);
    // Not HTTP and not TLS: closed at once.
    const junk = await new Promise<string>((resolve) => {
      const sock = tlsConnectRaw(s.port);
      let got = "";
      sock.on("data", (d) => (got += d));
      sock.on("close", () => resolve(got));
      sock.on("error", () => resolve(got));
      sock.write("\x00\x01garbage\r\n\r\n");
    });
    assert.equal(junk, "");
    const ca = readFileSync(join(s.dataDir, "tls", "ca.pem"));
    const res = await httpsGet(`${s.url}/health`, ca);
    assert.equal(res.status, 200);
  });

  it("PARLEY_TLS_CERT/KEY: a reload after the files are replaced serves the new certificate while an open WebSocket stays open", async () => {
    const { a, b, ca } = twoCertificates();
    const dir = tempDir("parley-tls-files-");
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    copyFileSync(a.certFile, cert);
    copyFileSync(a.keyFile, key);
    const s = await startTestServer({ PARLEY_TLS_CERT: cert, PARLEY_TLS_KEY: key }, { extra: [echo] });
    cleanup.push(() => s.close());
    assert.equal(await servedFingerprint(s.port, ca), a.fingerprint);
    const ws = await openEcho(`${s.wsUrl}/test-echo`, ca);
    assert.equal(await roundTrip(ws, "before"), "before");

    copyFileSync(b.certFile, cert);
    copyFileSync(b.keyFile, key);
    const reloaded = s.running.reloadTls();
    assert.equal(reloaded?.fingerprint, b.fingerprint);
    assert.equal(await servedFingerprint(s.port, ca), b.fingerprint);
    assert.equal(ws.readyState, WebSocket.OPEN);
    assert.equal(await roundTrip(ws, "after the reload"), "after the reload");

    // A half-written renewal is refused and the certificate in use stays.
    writeFileSync(cert, "-----BEGIN CERTIFICATE-----\ntruncated");
    assert.throws(() => s.running.reloadTls(), /PARLEY_TLS_CERT/);
    assert.equal(await servedFingerprint(s.port, ca), b.fingerprint);
    assert.equal(await roundTrip(ws, "still here"), "still here");
    ws.close();
  });

  it("a key that does not belong to the certificate stops start-up naming PARLEY_TLS_KEY", async () => {
    const { a, b } = twoCertificates();
    await assert.rejects(startTestServer({ PARLEY_TLS_CERT: a.certFile, PARLEY_TLS_KEY: b.keyFile }), /PARLEY_TLS_KEY/);
    await assert.rejects(startTestServer({ PARLEY_TLS_CERT: "/nonexistent/cert.pem", PARLEY_TLS_KEY: b.keyFile }), /PARLEY_TLS_CERT.*cannot read/);
  });

  it("SIGHUP makes a running parley serve the renewed certificate while a call's WebSocket stays open", async () => {
    const { a, b, ca } = twoCertificates();
    const dir = tempDir("parley-tls-hup-");
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    copyFileSync(a.certFile, cert);
    copyFileSync(a.keyFile, key);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: { ...process.env, PARLEY_PORT: String(port), PARLEY_HOST: "127.0.0.1", PARLEY_DATA_DIR: join(dir, "data"), PARLEY_TURN: "off", PARLEY_TLS_CERT: cert, PARLEY_TLS_KEY: key, PARLEY_LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    cleanup.push(() => child.exitCode === null && child.kill("SIGKILL"));
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    await waitFor(() => /is listening on https:/.test(output), 60_000, () => output);
    assert.match(output, /TLS: .*cert\.pem.*valid until/);

    // A call's WebSocket (real signaling over WSS) and a keep-alive TLS socket, both opened before the reload.
    const apiKey = output.match(/API key \(keep it safe, it is shown only this once\): (\S+)/)?.[1];
    assert.ok(apiKey, output);
    const created = await new Promise<{ participants: { token: string }[] }>((resolve, reject) => {
      const req = httpsRequest(`https://localhost:${port}/api/rooms`, { method: "POST", ca, agent: false, headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" } }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => (res.statusCode === 201 ? resolve(JSON.parse(body)) : reject(new Error(`${res.statusCode} ${body}`))));
      });
      req.on("error", reject);
      req.end(JSON.stringify({ participants: [{ name: "Dr. Lee", role: "host" }] }));
    });
    const call = new WebSocket(`wss://localhost:${port}/ws?token=${created.participants[0]!.token}`, { ca });
    const frames: { type: string }[] = [];
    call.on("message", (d) => frames.push(JSON.parse(String(d))));
    await waitFor(() => frames.some((f) => f.type === "welcome"), 20_000, () => JSON.stringify(frames));
    const open = await new Promise<import("node:tls").TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => resolve(s));
      s.on("error", reject);
    });
    assert.equal(open.getPeerCertificate().fingerprint256, a.fingerprint);

    copyFileSync(b.certFile, cert);
    copyFileSync(b.keyFile, key);
    child.kill("SIGHUP");
    await waitFor(() => /TLS certificate reloaded/.test(output), 20_000, () => output);
    assert.equal(await servedFingerprint(port, ca), b.fingerprint);
    assert.equal(child.exitCode, null, "still running");
    // The call's socket is still open and still answered.
    assert.equal(call.readyState, WebSocket.OPEN);
    call.send(JSON.stringify({ type: "ping", id: "after-hup" }));
    await waitFor(() => frames.some((f) => f.type === "pong"), 20_000, () => JSON.stringify(frames));
    call.close();
    // The old TLS connection still carries requests.
    const reply = await new Promise<string>((resolve, reject) => {
      let got = "";
      open.on("data", (d) => {
        got += d;
        if (got.includes("\r\n\r\n") && got.includes('"status":"ok"')) resolve(got);
      });
      open.on("error", reject);
      open.write("GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    });
    assert.match(reply, /^HTTP\/1\.1 200/);
    open.destroy();
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    assert.equal(code, 0);
  });
});

async function waitFor(cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out; output so far:\n${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
