import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import nodemailer, { type Transporter } from "nodemailer";
import type Mail from "nodemailer/lib/mailer/index.js";
import type { Config } from "../config.js";
import { buildIcs } from "./ics.js";

export interface InviteMail {
  inviteId: string;
  to: { email: string; name: string | null };
  joinUrl: string;
  message: string | null;
  room: { title: string | null; scheduledStartTime: string | null; maxDuration: number | null };
}

export interface SentMail {
  messageId: string;
  /** The outbox file, when there is no SMTP server. */
  file?: string;
}

/** An SMTP server that does not answer within this is treated as down (and retried later). */
const SMTP_TIMEOUT_MS = 15_000;
const DEFAULT_EVENT_SECONDS = 3600;

export function outboxDir(dataDir: string): string {
  return join(dataDir, "outbox");
}

/**
 * Sends invite mails through `PARLEY_SMTP_URL`, or — without SMTP — renders
 * the same message into `<dataDir>/outbox/<inviteId>.eml`, which any mail
 * client opens and forwards.
 */
export class Mailer {
  readonly delivery: "smtp" | "outbox";
  private readonly transport: Transporter;

  constructor(private readonly config: Config) {
    this.delivery = config.mail.smtpUrl ? "smtp" : "outbox";
    this.transport = config.mail.smtpUrl
      ? nodemailer.createTransport(config.mail.smtpUrl, {})
      : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "windows" });
    if (config.mail.smtpUrl) {
      // Options from the URL's query string win; these only fill in what it leaves out.
      const opts = (this.transport as unknown as { options: Record<string, unknown> }).options;
      opts.connectionTimeout ??= SMTP_TIMEOUT_MS;
      opts.greetingTimeout ??= SMTP_TIMEOUT_MS;
      opts.socketTimeout ??= SMTP_TIMEOUT_MS;
    }
  }

  compose(m: InviteMail): Mail.Options {
    const org = this.config.mail.orgName;
    const title = m.room.title ?? `a video call with ${org}`;
    const when = m.room.scheduledStartTime ? new Date(m.room.scheduledStartTime) : null;
    const whenText = when ? `${when.toUTCString()}` : null;
    const greeting = m.to.name ? `Hello ${m.to.name},` : "Hello,";
    const text = [
      greeting,
      "",
      `${org} invites you to ${title}.`,
      ...(whenText ? [`When: ${whenText}`] : []),
      ...(m.message ? ["", m.message] : []),
      "",
      "Join with this personal link (do not share it):",
      m.joinUrl,
      "",
      "It opens in your browser; no installation is needed. Allow camera and microphone when asked.",
      "",
      `— ${org}`,
    ].join("\n");
    const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#1b1f24">
<p>${esc(greeting)}</p>
<p><strong>${esc(org)}</strong> invites you to ${esc(title)}.</p>
${whenText ? `<p>When: ${esc(whenText)}</p>` : ""}
${m.message ? `<p style="white-space:pre-wrap">${esc(m.message)}</p>` : ""}
<p><a href="${esc(m.joinUrl)}" style="display:inline-block;padding:.6em 1.2em;background:#0b5cad;color:#fff;border-radius:6px;text-decoration:none">Join the call</a></p>
<p style="font-size:13px;color:#57606a">Or open this personal link (do not share it):<br><a href="${esc(m.joinUrl)}">${esc(m.joinUrl)}</a></p>
<p style="font-size:13px;color:#57606a">It opens in your browser; no installation is needed.</p>
<p>— ${esc(org)}</p>
</body></html>`;
    const opts: Mail.Options = {
      from: { name: org, address: this.config.mail.from },
      to: m.to.name ? { name: m.to.name, address: m.to.email } : m.to.email,
      subject: when ? `Invitation: ${title} — ${whenText}` : `Invitation: ${title}`,
      text,
      html,
      headers: { "X-Parley-Invite": m.inviteId },
    };
    if (when) {
      const seconds = m.room.maxDuration ?? DEFAULT_EVENT_SECONDS;
      const ics = buildIcs({
        uid: `${m.inviteId}@parley`,
        start: when,
        end: new Date(when.getTime() + seconds * 1000),
        summary: title,
        description: `${org} invites you to ${title}.\nJoin: ${m.joinUrl}`,
        url: m.joinUrl,
        organizer: { name: org, email: this.config.mail.from },
        attendee: { name: m.to.name ?? undefined, email: m.to.email },
      });
      // Both forms: the text/calendar alternative is what Outlook and Gmail render as an event,
      // the attachment is what other clients offer to import.
      opts.icalEvent = { method: "REQUEST", content: ics, filename: "invite.ics" };
      opts.attachments = [{ filename: "invite.ics", content: ics, contentType: "text/calendar; charset=utf-8; method=REQUEST" }];
    }
    return opts;
  }

  async send(m: InviteMail): Promise<SentMail> {
    const info = await this.transport.sendMail(this.compose(m));
    if (this.delivery === "smtp") {
      const accepted = (info.accepted ?? []).map(String);
      if (!accepted.length) throw new Error(`the SMTP server accepted no recipient (${(info.rejected ?? []).join(", ")})`);
      return { messageId: info.messageId };
    }
    const dir = outboxDir(this.config.dataDir);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${m.inviteId}.eml`);
    // Written under a temporary name and renamed, so a reader never sees half a message.
    writeFileSync(file + ".tmp", info.message as Buffer);
    renameSync(file + ".tmp", file);
    return { messageId: info.messageId, file };
  }

  close(): void {
    this.transport.close();
  }
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
