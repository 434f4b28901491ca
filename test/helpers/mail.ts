/**
 * Just enough of RFC 2045/2046 to read what nodemailer writes: headers,
 * nested multiparts, base64 and quoted-printable bodies. Tests use it to
 * look inside invite mails (SMTP-received or .eml files).
 */
export interface MailPart {
  headers: Record<string, string>;
  contentType: string;
  filename: string | null;
  body: string;
}

export interface ParsedMail {
  headers: Record<string, string>;
  parts: MailPart[];
  text: string | undefined;
  html: string | undefined;
  calendar: string | undefined;
}

function splitHead(raw: string): { headers: Record<string, string>; body: string } {
  const norm = raw.replace(/\r\n/g, "\n");
  const i = norm.indexOf("\n\n");
  const head = i < 0 ? norm : norm.slice(0, i);
  const body = i < 0 ? "" : norm.slice(i + 2);
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\n[ \t]+/g, " ").split("\n")) {
    const m = line.match(/^([^:]+):\s*(.*)$/);
    if (m) headers[m[1]!.toLowerCase()] = decodeWords(m[2]!);
  }
  return { headers, body };
}

/** RFC 2047 encoded-words (`=?UTF-8?Q?…?=`), as nodemailer writes non-ASCII subjects. */
function decodeWords(value: string): string {
  return value.replace(/\?=\s+=\?/g, "?==?").replace(/=\?([^?]+)\?([QB])\?([^?]*)\?=/gi, (_all, _charset, enc: string, text: string) =>
    enc.toUpperCase() === "B" ? Buffer.from(text, "base64").toString("utf8") : decode(text.replace(/_/g, " "), "quoted-printable"),
  );
}

const param = (header: string | undefined, name: string) => header?.match(new RegExp(`${name}="?([^";]+)"?`, "i"))?.[1] ?? null;

function decode(body: string, encoding: string | undefined): string {
  switch ((encoding ?? "").toLowerCase()) {
    case "base64":
      return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
    case "quoted-printable": {
      const bytes: number[] = [];
      const s = body.replace(/=\n/g, "");
      for (let i = 0; i < s.length; i++) {
        if (s[i] === "=" && /^[0-9A-F]{2}$/i.test(s.slice(i + 1, i + 3))) {
          bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
          i += 2;
        } else bytes.push(...Buffer.from(s[i]!, "utf8"));
      }
      return Buffer.from(bytes).toString("utf8");
    }
    default:
      return body;
  }
}

function leaves(raw: string): MailPart[] {
  const { headers, body } = splitHead(raw);
  const ct = headers["content-type"] ?? "text/plain";
  if (/^multipart\//i.test(ct)) {
    const boundary = param(ct, "boundary")!;
    const chunks = body.split(`--${boundary}`).slice(1);
    return chunks.filter((c) => !c.startsWith("--")).flatMap((c) => leaves(c.replace(/^\n/, "")));
  }
  return [
    {
      headers,
      contentType: ct.split(";")[0]!.trim().toLowerCase(),
      filename: param(headers["content-disposition"], "filename") ?? param(ct, "name"),
      body: decode(body, headers["content-transfer-encoding"]),
    },
  ];
}

export function parseMail(raw: string | Buffer): ParsedMail {
  const text = raw.toString();
  const { headers } = splitHead(text);
  const parts = leaves(text);
  return {
    headers,
    parts,
    text: parts.find((p) => p.contentType === "text/plain" && !p.filename)?.body,
    html: parts.find((p) => p.contentType === "text/html")?.body,
    calendar: parts.find((p) => p.contentType === "text/calendar")?.body,
  };
}

/** Unfolds iCalendar lines (RFC 5545 §3.1) and returns NAME → value of the first of each. */
export function icsFields(ics: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of ics.replace(/\r\n[ \t]/g, "").replace(/\n[ \t]/g, "").split(/\r?\n/)) {
    const m = line.match(/^([A-Z-]+)(?:;[^:]*)?:(.*)$/);
    if (m && !(m[1]! in out)) out[m[1]!] = m[2]!;
  }
  return out;
}
