/**
 * The surface of node-turn 0.0.6 as patched in patches/node-turn+0.0.6.patch
 * (the package ships no types). Only what Parley calls is declared.
 */
declare module "node-turn" {
  import type { Socket } from "node:dgram";

  namespace NodeTurn {
    interface Address {
      address: string;
      port: number;
      family: number;
    }
    interface User {
      username: string;
      password: string;
    }
    interface Allocation {
      fiveTuple: string;
      user: User;
      sockets: Socket[];
      relayedTransportAddress: Address;
      mappedAddress: Address;
      lifetime: number;
      closed: boolean;
      close(reason?: string): void;
    }
    interface Message {
      user: User | null;
      refusal?: string;
      transport: { src: Address; dst: Address };
      getAttribute(name: string): unknown;
    }
    interface Reply extends Message {
      request?: Message;
      isChallenge?: boolean;
    }
    type PeerDecision = "allow" | "relay-only" | "deny";
    interface Options {
      listeningIps?: string[];
      listeningPort?: number;
      relayIps?: string[];
      externalIps?: string | Record<string, string> | null;
      minPort?: number;
      maxPort?: number;
      maxAllocateLifetime?: number;
      defaultAllocatetLifetime?: number;
      authMech?: "none" | "short-term" | "long-term";
      realm?: string;
      credentials?: Record<string, string>;
      debugLevel?: "ALL" | "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR" | "FATAL" | "OFF";
      log?: (msg: unknown) => void;
      passwordFor?: (username: string, msg: Message) => string | null;
      peerPolicy?: (address: string, port: number | undefined, msg: Message) => PeerDecision;
      allowAllocation?: (username: string, msg: Message) => boolean;
      relayAddressFor?: (clientAddress: string, listeningAddress: string) => { bind: string; advertise?: string } | Promise<{ bind: string; advertise?: string }>;
      onRefusal?: (code: number, reply: Reply) => void;
    }
  }

  class NodeTurn {
    constructor(options?: NodeTurn.Options);
    allocations: Map<string, NodeTurn.Allocation>;
    reservations: Record<string, unknown>;
    bytesRelayed: number;
    minPort: number;
    maxPort: number;
    defaultAllocatetLifetime: number;
    maxAllocateLifetime: number;
    start(cb?: (err: NodeJS.ErrnoException | null) => void): void;
    stop(): void;
    closeAllocations(predicate: (a: NodeTurn.Allocation) => boolean, reason?: string): number;
    on(event: "allocation", listener: (a: NodeTurn.Allocation) => void): this;
    on(event: "allocation-end", listener: (a: NodeTurn.Allocation, reason: string) => void): this;
  }
  export = NodeTurn;
}
