import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import jwt from "jsonwebtoken";
import { SMTPServer } from "smtp-server";
import { inviteTuning } from "../src/invites/service.js";
import { icsFields, parseMail } from "./helpers/mail.js";
import { createRoom, startTestServer, type TestServer } from "./helpers/server.js";
import { waitUntil } from "./helpers/wait.js";

interface Received {
  from: string;
  to: string[];
  raw: string;
}

/** A real SMTP server on a random port; `refuse` makes it answer 550 to every recipient. */
async function startSmtp(opts: { refuse?: boolean } = {}) {
  const received: Received[] = [];
  let rcptAttempts = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onRcptTo(address, _session, cb) {
      rcptAttempts++;
      if (opts.refuse) {
        const err = new Error("mailbox unavailable") as Error & { responseCode: number };
        err.responseCode = 550;
        return cb(err);
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString("utf8"),
        });
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    rcptAttempts: () => rcptAttempts,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const until = <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000) => waitUntil(what, fn, { timeoutMs });

const saved = structuredClone(inviteTuning);
afterEach(() => Object.assign(inviteTuning, structuredClone(saved)));

describe("invites over a real SMTP server", () => {
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let s: TestServer;
  before(async () => {
    smtp = await startSmtp();
    s = await startTestServer({ PARLEY_SMTP_URL: smtp.url, PARLEY_ORG_NAME: "Riverside Clinic", PARLEY_MAIL_FROM: "visits@riverside.test" });
  });
  after(async () => {
    await s.close();
    await smtp.close();
  });

  it("mails a personal link to the right room with an .ics at the scheduled time", async () => {
    const start = "2031-03-04T15:30:00.000Z";
    const room = await createRoom(s, { title: "Follow-up visit", scheduledStartTime: start, maxDuration: 1800 });
    const res = await s.api(`/api/rooms/${room.roomId}/invites`, { method: "POST", json: { email: "ana@example.test", name: "Ana Silva", role: "client" } });
    assert.equal(res.status, 201);
    const invite = await res.json();
    assert.equal(invite.delivery, "smtp");
    assert.equal(invite.status, "sent");
    assert.equal(invite.attempts, 1);

    const mail = await until("the mail", () => smtp.received.find((m) => m.to.includes("ana@example.test")));
    assert.deepEqual(mail.to, ["ana@example.test"]);
    assert.equal(mail.from, "visits@riverside.test");
    const parsed = parseMail(mail.raw);
    assert.match(parsed.headers.subject ?? "", /Follow-up visit/);
    assert.match(parsed.text ?? "", /Riverside Clinic/);
    assert.match(parsed.html ?? "", /Riverside Clinic/);
    assert.ok(parsed.text?.includes(invite.joinUrl), "text body carries the join link");
    assert.ok(parsed.html?.includes(invite.joinUrl.replace(/&/g, "&amp;")), "html body carries the join link");

    const link = new URL(invite.joinUrl);
    assert.equal(link.pathname, `/join/${room.roomId}`);
    const claims = jwt.verify(link.searchParams.get("token")!, s.jwtSecret, { algorithms: ["HS256"] }) as jwt.JwtPayload;
    assert.equal(claims.roomId, room.roomId);
    assert.equal(claims.sessionId, room.sessionId);
    assert.equal(claims.sub, invite.participantId);
    assert.equal(claims.role, "client");
    assert.equal(claims.name, "Ana Silva");
    assert.ok(claims.exp! * 1000 > Date.parse(start) + 1800_000, "the link outlives the visit");

    assert.ok(parsed.calendar, "a text/calendar part");
    const ics = icsFields(parsed.calendar!);
    assert.equal(ics.METHOD, "REQUEST");
    assert.equal(ics.DTSTART, "20310304T153000Z");
    assert.equal(ics.DTEND, "20310304T160000Z");
    assert.equal(ics.URL, invite.joinUrl);
    assert.ok(parsed.parts.some((p) => p.filename === "invite.ics"), "an invite.ics attachment");

    const list = await (await s.api(`/api/rooms/${room.roomId}/invites`)).json();
    assert.equal(list.invites.length, 1);
    assert.equal(list.invites[0].status, "sent");
    const audit = s.running.ctx.audit.list({ roomId: room.roomId, action: "invite.sent" });
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.detail?.email, "ana@example.test");
  });

  it("sends no calendar event for an unscheduled room, and resends on request", async () => {
    const room = await createRoom(s, { title: "Drop-in" });
    const invite = await (await s.api(`/api/rooms/${room.roomId}/invites`, { method: "POST", json: { email: "bo@example.test" } })).json();
    const first = await until("the mail", () => smtp.received.find((m) => m.to.includes("bo@example.test")));
    assert.equal(parseMail(first.raw).calendar, undefined);
    const again = await s.api(`/api/rooms/${room.roomId}/invites/${invite.inviteId}/resend`, { method: "POST" });
    assert.equal(again.status, 200);
    assert.equal((await again.json()).status, "sent");
    await until("the second mail", () => smtp.received.filter((m) => m.to.includes("bo@example.test")).length === 2);
  });

  it("refuses bad addresses, unknown rooms and ended rooms with clear problems", async () => {
    const room = await createRoom(s);
    const bad = await s.api(`/api/rooms/${room.roomId}/invites`, { method: "POST", json: { email: "not-an-address" } });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).code, "invalid_body");
    const missing = await s.api(`/api/rooms/nope/invites`, { method: "POST", json: { email: "a@example.test" } });
    assert.equal(missing.status, 404);
    const noKey = await fetch(`${s.url}/api/rooms/${room.roomId}/invites`, { method: "POST", body: JSON.stringify({ email: "a@example.test" }) });
    assert.equal(noKey.status, 401);
    await s.api(`/api/rooms/${room.roomId}/end`, { method: "POST", json: {} });
    const ended = await s.api(`/api/rooms/${room.roomId}/invites`, { method: "POST", json: { email: "a@example.test" } });
    assert.equal(ended.status, 410);
  });
});

describe("invites without SMTP (outbox)", () => {
  it("writes a parseable .eml into the data dir's outbox", async () => {
    const s = await startTestServer({ PARLEY_ORG_NAME: "Hill Practice" });
    try {
      const room = await createRoom(s, { title: "Check-in" });
      const res = await s.api(`/api/rooms/${room.roomId}/invites`, { method: "POST", json: { email: "cy@example.test", name: "Cy", message: "Bring your notes." } });
      assert.equal(res.status, 201);
      const invite = await res.json();
      assert.equal(invite.delivery, "outbox");
      assert.equal(invite.status, "sent");
      const file = join(s.dataDir, "outbox", `${invite.inviteId}.eml`);
      assert.ok(existsSync(file));
      const mail = parseMail(readFileSync(file));
      assert.match(mail.headers.to ?? "", /cy@example\.test/);
      assert.match(mail.headers.from ?? "", /Hill Practice/);
      assert.match(mail.text ?? "", /Bring your notes\./);
      assert.ok(mail.text?.includes(invite.joinUrl));
    } finally {
      await s.close();
    }
  });

  it("sends a scheduled invite after a restart", async () => {
    let s = await startTestServer();
    try {
      const room = await createRoom(s, { title: "Later" });
      const sendAt = new Date(Date.now() + 2500).toISOString();
      const invite = await (await s.api(`/api/rooms/${room.roomId}/invites`, { method: "POST", json: { email: "di@example.test", sendAt } })).json();
      assert.equal(invite.status, "scheduled");
      const file = join(s.dataDir, "outbox", `${invite.inviteId}.eml`);
      await s.stop();
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(existsSync(file), false, "nothing was sent while the server was down");
      s = await s.restart();
      await until("the outbox file", () => existsSync(file));
      const list = await (await s.api(`/api/rooms/${room.roomId}/invites`)).json();
      assert.equal(list.invites[0].status, "sent");
      assert.ok(Date.parse(list.invites[0].sentAt) >= Date.parse(sendAt));
    } finally {
      await s.close();
    }
  });

  it("limits invites per room (429 rate_limited)", async () => {
    inviteTuning.perRoom.limit = 2;
    const s = await startTestServer();
    try {
      const room = await createRoom(s);
      for (const n of [1, 2]) assert.equal((await s.api(`/api/rooms/${room.roomId}/invites`, { method: "POST", json: { email: `p${n}@example.test` } })).status, 201);
      const third = await s.api(`/api/rooms/${room.roomId}/invites`, { method: "POST", json: { email: "p3@example.test" } });
      assert.equal(third.status, 429);
      const body = await third.json();
      assert.equal(body.code, "rate_limited");
      assert.ok(body.retryAfter > 0);
      const other = await createRoom(s);
      assert.equal((await s.api(`/api/rooms/${other.roomId}/invites`, { method: "POST", json: { email: "p3@example.test" } })).status, 201);
    } finally {
      await s.close();
    }
  });
});

describe("an SMTP server that refuses", () => {
  it("is retried with back-off and the invite ends as failed with the reason", async () => {
    inviteTuning.retryDelaysMs = [300, 600];
    inviteTuning.maxAttempts = 3;
    const smtp = await startSmtp({ refuse: true });
    const s = await startTestServer({ PARLEY_SMTP_URL: smtp.url });
    try {
      const room = await createRoom(s);
      const res = await s.api(`/api/rooms/${room.roomId}/invites`, { method: "POST", json: { email: "gone@example.test" } });
      assert.equal(res.status, 201);
      const first = await res.json();
      assert.equal(first.status, "pending");
      assert.equal(first.attempts, 1);
      assert.match(first.lastError, /550/);
      const failed = await until("failed", async () => {
        const list = await (await s.api(`/api/rooms/${room.roomId}/invites`)).json();
        return list.invites[0].status === "failed" && list.invites[0];
      });
      assert.equal(failed.attempts, 3);
      assert.match(failed.lastError, /mailbox unavailable/);
      assert.equal(smtp.rcptAttempts(), 3);
      assert.equal(smtp.received.length, 0);
      assert.equal(s.running.ctx.audit.list({ roomId: room.roomId, action: "invite.failed" }).length, 1);
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      assert.match(metrics, /parley_invite_sends_total\{result="retry"\} 2/);
      assert.match(metrics, /parley_invite_sends_total\{result="failed"\} 1/);
    } finally {
      await s.close();
      await smtp.close();
    }
  });
});
