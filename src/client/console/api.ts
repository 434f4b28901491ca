/** The management API from the console: the key from sessionStorage, problems as readable errors. */
const KEY = "parley.console.apiKey";

export const session = {
  get key(): string | null {
    return sessionStorage.getItem(KEY);
  },
  set key(v: string | null) {
    if (v) sessionStorage.setItem(KEY, v);
    else sessionStorage.removeItem(KEY);
  },
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T = any>(path: string, init: { method?: string; json?: unknown; key?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${init.key ?? session.key ?? ""}` };
  if (init.json !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method: init.method ?? "GET", headers, body: init.json === undefined ? undefined : JSON.stringify(init.json) });
  if (res.status === 204) return undefined as T;
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, body.code ?? "error", body.detail ?? `${res.status} ${res.statusText}`);
  return body as T;
}

/** Downloads a protected file (the key travels in a header, so a plain link cannot do it). */
export async function download(path: string, filename: string): Promise<void> {
  const res = await fetch(path, { headers: { authorization: `Bearer ${session.key ?? ""}` } });
  if (!res.ok) throw new ApiError(res.status, "download_failed", `Download failed (${res.status}).`);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
