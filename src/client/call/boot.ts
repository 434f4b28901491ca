/**
 * What the server tells the page before any request (embedded in the HTML by
 * src/pages/routes.ts), plus the token and the few URL options.
 */
export interface Boot {
  roomId: string;
  orgName: string;
  room: { exists: boolean; title: string | null; status: "waiting" | "active" | "ended" | null; allowGuests: boolean; waitingRoom: boolean };
  /** Outcome of checking the link's token on the server: null when fine or absent. */
  tokenError: { code: string; detail: string } | null;
  /** STUN URIs (no secret in them) for the pre-join check of people without a token yet. */
  stunUrls: string[];
  turnMode: "embedded" | "external" | "off";
}

export interface Options {
  /** `?ice=relay` forces TURN (support and tests: proves the relay path works). */
  relayOnly: boolean;
  /** `?transport=poll` starts on long-poll (support: networks that mangle WebSockets). */
  forcePoll: boolean;
}

export function readBoot(): Boot {
  const el = document.getElementById("parley-boot");
  return JSON.parse(el?.textContent ?? "{}") as Boot;
}

export function readOptions(): Options {
  const q = new URLSearchParams(location.search);
  return { relayOnly: q.get("ice") === "relay", forcePoll: q.get("transport") === "poll" };
}

const storageKey = (roomId: string) => `parley.token.${roomId}`;

/**
 * The token arrives in the link; it is moved to sessionStorage and taken out
 * of the address bar so it does not show in a screen share or get copied
 * along with the URL. A reload in the same tab still finds it.
 */
export function takeToken(roomId: string): string | undefined {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get("token");
  if (fromUrl) {
    try {
      sessionStorage.setItem(storageKey(roomId), fromUrl);
      url.searchParams.delete("token");
      history.replaceState(null, "", url.pathname + (url.search ? url.search : "") + url.hash);
    } catch {
      // Storage can be disabled (private modes): keep the token in the URL then.
    }
    return fromUrl;
  }
  try {
    return sessionStorage.getItem(storageKey(roomId)) ?? undefined;
  } catch {
    return undefined;
  }
}

export function storeToken(roomId: string, token: string): void {
  try {
    sessionStorage.setItem(storageKey(roomId), token);
  } catch {
    /* see takeToken */
  }
}

export function forgetToken(roomId: string): void {
  try {
    sessionStorage.removeItem(storageKey(roomId));
  } catch {
    /* see takeToken */
  }
}

/** Claims read without verification, only to show a name and an expiry; the server checks the signature. */
export function tokenClaims(token: string): { sub?: string; userId?: string; name?: string; role?: string; exp?: number } {
  try {
    const part = token.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(decodeURIComponent(escape(json))) as Record<string, never>;
  } catch {
    return {};
  }
}
