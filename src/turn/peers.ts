import { isIPv4, isIPv6 } from "node:net";
import { networkInterfaces } from "node:os";

/**
 * Which peers the relay may reach. A TURN server that relays anywhere is an
 * open door into the network it stands in (RFC 8656 section 21.2.3: "TURN
 * servers ... should not relay to private addresses"), so private, loopback
 * and link-local peers are refused unless they are the relay's own
 * addresses, where only the relay port range is reachable.
 */

/** [network, prefix length] of the IPv4 ranges a relay must not reach by default. */
const SPECIAL_V4: [number, number][] = [
  [v4("0.0.0.0"), 8], // "this network"
  [v4("10.0.0.0"), 8],
  [v4("127.0.0.0"), 8],
  [v4("169.254.0.0"), 16], // link-local
  [v4("172.16.0.0"), 12],
  [v4("192.168.0.0"), 16],
  [v4("224.0.0.0"), 4], // multicast
  [v4("240.0.0.0"), 4], // reserved and broadcast
];

function v4(address: string): number {
  return address.split(".").reduce((n, b) => (n << 8) + Number(b), 0) >>> 0;
}

function inV4(address: string, [net, bits]: [number, number]): boolean {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((v4(address) & mask) >>> 0) === net;
}

/** True for private (RFC 1918, fc00::/7), loopback, link-local, multicast and unspecified addresses. */
export function isPrivateAddress(address: string): boolean {
  if (isIPv4(address)) return SPECIAL_V4.some((r) => inV4(address, r));
  if (!isIPv6(address)) return true;
  const a = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) return isPrivateAddress(mapped[1]!);
  if (a === "::" || a === "::1") return true;
  const first = parseInt(a.split(":")[0] || "0", 16);
  return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00;
}

const OWN_ADDRESSES_TTL_MS = 10_000;

export type PeerDecision = "allow" | "relay-only" | "deny";

/** Decides on CreatePermission and ChannelBind peers (a Send or a peer's datagram needs a permission first). */
export class PeerPolicy {
  private own = new Set<string>();
  private ownAt = 0;

  constructor(private readonly opts: { allowPrivatePeers: boolean; externalIp?: string; relayPorts: { min: number; max: number } }) {}

  decide(address: string, port: number | undefined): PeerDecision {
    if (this.opts.allowPrivatePeers || !isPrivateAddress(address)) return "allow";
    if (!this.ownAddresses().has(address)) return "deny";
    // The relay's own address: only other allocations' relayed ports (two
    // clients of this relay talking through it), never a local service.
    if (port !== undefined && (port < this.opts.relayPorts.min || port > this.opts.relayPorts.max)) return "deny";
    return "relay-only";
  }

  /** Interface addresses of this machine (refreshed every few seconds: interfaces come and go) and the external IP. */
  ownAddresses(): Set<string> {
    const now = Date.now();
    if (now - this.ownAt > OWN_ADDRESSES_TTL_MS) {
      const own = new Set<string>();
      for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) own.add(i.address);
      if (this.opts.externalIp) own.add(this.opts.externalIp);
      this.own = own;
      this.ownAt = now;
    }
    return this.own;
  }
}
