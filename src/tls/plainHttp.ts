import type { Server as HttpsServer } from "node:https";
import type { Socket } from "node:net";

/** The first byte of every TLS connection: a handshake record (RFC 8446 §5.1). */
const TLS_HANDSHAKE = 0x16;
/** A request line and headers longer than this are not someone typing an address. */
const MAX_HEAD = 8192;
/** How long a connection may stay silent before its first byte. */
const FIRST_BYTE_TIMEOUT_MS = 10_000;

/**
 * Someone typing `http://192.168.1.5:8080` at a TLS port would otherwise get
 * a reset connection and no clue. The first byte tells TLS from plain HTTP:
 * TLS goes on to the HTTPS server untouched (the peeked byte is put back,
 * and Node's TLS socket consumes buffered data first); plain HTTP gets a
 * permanent redirect to the same path on the https public URL, then the
 * connection is closed. Anything else is closed at once.
 */
export function redirectPlainHttp(server: HttpsServer, publicUrl: string): void {
  const origin = new URL(publicUrl).origin;
  const tlsListeners = server.listeners("connection") as ((socket: Socket) => void)[];
  server.removeAllListeners("connection");
  server.on("connection", (socket: Socket) => {
    const onError = () => socket.destroy();
    socket.on("error", onError);
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
    const sniff = () => {
      const first = socket.read(1) as Buffer | null;
      if (first === null) {
        socket.once("readable", sniff);
        return;
      }
      socket.setTimeout(0);
      socket.off("error", onError);
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) {
        for (const l of tlsListeners) l.call(server, socket);
      } else {
        socket.on("error", onError);
        answerRedirect(socket, origin);
      }
    };
    sniff();
  });
}

function answerRedirect(socket: Socket, origin: string): void {
  let head = "";
  const onData = (d: Buffer) => {
    head += d.toString("latin1");
    if (!head.includes("\r\n\r\n") && head.length < MAX_HEAD) return;
    socket.off("data", onData);
    // Only a plain path (no spaces, no line breaks) is echoed into Location: no header injection.
    const m = /^[A-Z]{3,10} (\/[\x21-\x7e]*) HTTP\/1\.[01]\r\n/.exec(head);
    if (!m) {
      socket.destroy();
      return;
    }
    const location = origin + m[1];
    const body = `This address speaks https only: ${location}\n`;
    socket.end(
      `HTTP/1.1 308 Permanent Redirect\r\nLocation: ${location}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  };
  socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
  socket.on("data", onData);
}
