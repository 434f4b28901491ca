/**
 * The baseline of the signaling benchmark: the least a WebSocket relay can
 * do. Peers connect with `?id=<peerId>`; a frame `{to, data}` is parsed,
 * the recipient looked up in a Map and sent `{from, data}`. No rooms, no
 * auth, no seq, no replay, no validation — whatever Parley costs beyond this
 * is the price of those features. Same `ws` options as Parley's server
 * (64 KB frames, no compression) so that only the relay logic differs.
 *
 * Started as a child process by bench/signaling.ts (IPC: mem, cpu, exit).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { announceReady, probeHandlers, serveRequests } from "./ipc.js";

export async function startRawRelay(port = 0): Promise<{ port: number; close(): Promise<void> }> {
  const peers = new Map<string, WebSocket>();
  const server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server, maxPayload: 64 * 1024, perMessageDeflate: false });
  wss.on("connection", (ws, req) => {
    const id = new URL(req.url ?? "/", "http://relay").searchParams.get("id");
    if (!id) return ws.close(4401, "id required");
    peers.set(id, ws);
    ws.on("message", (raw) => {
      let msg: { to?: unknown; data?: unknown };
      try {
        msg = JSON.parse(String(raw)) as typeof msg;
      } catch {
        return;
      }
      const to = typeof msg.to === "string" ? peers.get(msg.to) : undefined;
      to?.send(JSON.stringify({ from: id, data: msg.data }));
    });
    ws.on("close", () => {
      if (peers.get(id) === ws) peers.delete(id);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.close(() => resolve());
      }),
  };
}

if (process.send) {
  const relay = await startRawRelay();
  serveRequests({
    ...probeHandlers(),
    exit: () => relay.close(),
  });
  announceReady({ url: `ws://127.0.0.1:${relay.port}` });
}
