/**
 * Driving the call page in real Chromium (Debian's, never a downloaded one)
 * with fake camera and microphone.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join as pathJoin } from "node:path";
import { after, before } from "node:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { startTestServer, type TestServer } from "../helpers/server.js";

export const CHROMIUM = process.env.PARLEY_CHROMIUM ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-gpu",
  // getDisplayMedia in headless: pick the whole screen without a picker.
  "--auto-select-desktop-capture-source=Entire screen",
  // Several pages share two cores: background tabs must not be throttled.
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
];

export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

export interface CallFixture {
  /** Reassignable: a test may restart the server (`call.server = await call.server.restart()`). */
  server: TestServer;
  browser: Browser;
  /** Pages to close when the suite ends (or earlier, with closePages). */
  open: CallPage[];
  closePages(): Promise<void>;
}

/** One real server and one Chromium for the enclosing describe block; everything is closed after it. */
export function callFixture(opts: { env?: Record<string, string>; chromiumArgs?: string[] } = {}): CallFixture {
  const f: CallFixture = {
    server: undefined as unknown as TestServer,
    browser: undefined as unknown as Browser,
    open: [],
    async closePages() {
      for (const p of f.open.splice(0)) await p.context.close().catch(() => undefined);
    },
  };
  before(async () => {
    f.server = await startTestServer(opts.env);
    f.browser = await launchChromium(opts.chromiumArgs);
  });
  after(async () => {
    await f.closePages();
    await f.browser?.close();
    await f.server?.close();
  });
  return f;
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export interface CallPage {
  page: Page;
  context: BrowserContext;
  logs: string[];
}

/** Opens a join link in its own browser context (own storage, like another person's browser). */
export async function openCall(browser: Browser, url: string, opts: { viewport?: { width: number; height: number }; setup?: (ctx: BrowserContext, page: Page) => Promise<void> } = {}): Promise<CallPage> {
  const context = await browser.newContext({ viewport: opts.viewport ?? DESKTOP, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const logs: string[] = [];
  page.on("console", (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`[pageerror] ${e.message}`));
  // The console says only "Failed to load resource: 404"; the URL is what tells a failure apart.
  page.on("response", (r) => void (r.status() >= 400 && logs.push(`[http ${r.status()}] ${r.request().method()} ${new URL(r.url()).pathname}`)));
  await opts.setup?.(context, page);
  await page.goto(url);
  return { page, context, logs };
}

/** Waits for the pre-join screen to be usable (media opened), then clicks Join. */
export async function clickJoin(c: CallPage, name?: string): Promise<void> {
  const { page } = c;
  await page.waitForSelector("#join-btn", { timeout: 30_000 });
  await page.waitForFunction(() => document.querySelector('.check[data-status]:first-child')?.getAttribute("data-status") !== "pending", undefined, { timeout: 30_000 });
  if (name !== undefined) await page.fill("#guest-name", name);
  await page.click("#join-btn");
}

export async function join(browser: Browser, url: string, opts: Parameters<typeof openCall>[2] & { name?: string } = {}): Promise<CallPage> {
  const c = await openCall(browser, url, opts);
  await clickJoin(c, opts.name);
  return c;
}

export interface PeerStats {
  id: string;
  connectionState: string;
  framesDecoded: number[];
  inboundVideoTracks: number;
  selectedPair?: { local: string; remote: string; localAddress?: string };
  localUfrag?: string;
}

export function stats(c: CallPage): Promise<PeerStats[]> {
  return c.page.evaluate(() => (window as any).__parley.stats());
}

export function info(c: CallPage): Promise<any> {
  return c.page.evaluate(() => (window as any).__parley.info());
}

/** Polls `check` until it returns a truthy value; fails with the last value and the page logs. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, opts: { timeoutMs?: number; pages?: CallPage[] } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 45_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  const logs = (opts.pages ?? []).map((p, i) => `--- page ${i}\n${p.logs.slice(-30).join("\n")}`).join("\n");
  assert.fail(`timed out waiting for ${what}; last: ${JSON.stringify(last)}\n${logs}`);
}

/** The page's participant id, once its `welcome` has arrived. */
export function selfIdOf(c: CallPage): Promise<string> {
  return eventually("the page's welcome (its own participant id)", async () => ((await info(c)).selfId as string) || undefined, { pages: [c] });
}

/** Every page decodes video (framesDecoded > 0 on its camera stream) from every other page. */
export async function allDecodeFromAll(pages: CallPage[], timeoutMs = 60_000): Promise<Record<string, PeerStats[]>> {
  // A page knows its own id only once `welcome` arrived; clicking Join does not wait for that.
  const ids = await Promise.all(pages.map((p) => selfIdOf(p)));
  const out: Record<string, PeerStats[]> = {};
  for (let i = 0; i < pages.length; i++) {
    const others = ids.filter((_, j) => j !== i);
    out[ids[i]!] = await eventually(
      `page ${i} decoding video from ${others.join(", ")}`,
      async () => {
        const s = await stats(pages[i]!);
        const ok = others.every((id) => (s.find((x) => x.id === id)?.framesDecoded[0] ?? 0) > 0);
        return ok ? s : undefined;
      },
      { timeoutMs, pages },
    );
  }
  return out;
}

/** Each participant opens their link and joins, one after another; resolves once everyone decodes everyone's video. */
export async function joinAll(call: CallFixture, participants: { joinUrl: string }[]): Promise<CallPage[]> {
  const pages: CallPage[] = [];
  for (const p of participants) pages.push(await join(call.browser, p.joinUrl));
  call.open.push(...pages);
  await allDecodeFromAll(pages);
  return pages;
}

/** Frames decoded from `peerId` now; used to prove media keeps flowing (the count grows). */
export async function framesFrom(c: CallPage, peerId: string): Promise<number> {
  const s = await stats(c);
  return Math.max(0, ...(s.find((x) => x.id === peerId)?.framesDecoded ?? [0]));
}

export async function keepsFlowing(c: CallPage, peerId: string, pages: CallPage[]): Promise<void> {
  const before = await framesFrom(c, peerId);
  await eventually(`frames from ${peerId} to keep growing past ${before}`, async () => (await framesFrom(c, peerId)) > before + 10, { pages, timeoutMs: 30_000 });
}

export function artifactsDir(): string {
  const dir = pathJoin(process.cwd(), ".test-artifacts", "call");
  mkdirSync(dir, { recursive: true });
  return dir;
}
