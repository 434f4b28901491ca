/**
 * Entry of the call page (public/app/call.js): picks the first screen from
 * what the server embedded, runs the pre-join check, then the call.
 */
import { forgetToken, readBoot, readOptions, storeToken, takeToken, tokenClaims } from "./boot.js";
import { announce, clear } from "./dom.js";
import type { CallExtension } from "./extensions.js";
import { LocalMedia } from "./media.js";
import { CallSession } from "./session.js";
import { installTestHook } from "./testhook.js";
import { recordingExtension } from "../recording/extension.js";
import { PrejoinView } from "./ui/prejoin.js";
import { endStateView, stateForProblem, type EndState } from "./ui/states.js";
import "./call.css";

/** Modules that add to the call page (recording adds its button and indicator here). */
const EXTENSIONS: CallExtension[] = [recordingExtension];

const boot = readBoot();
const options = readOptions();
const root = document.getElementById("app")!;
const origin = location.origin;

function show(el: HTMLElement): void {
  clear(root);
  root.append(el);
  // Move focus to the new screen's heading so keyboard and screen-reader users land on it.
  const heading = el.querySelector<HTMLElement>("h1");
  if (heading) {
    if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

function end(state: EndState, detail?: string): void {
  if (state === "expired" || state === "invalid" || state === "removed" || state === "ended") forgetToken(boot.roomId);
  show(endStateView(state, detail));
  announce(document.getElementById("end-title")?.textContent ?? "");
  hook.state.phase = "ended";
  hook.state.endState = state;
}

const hook = installTestHook();

function firstScreen(token: string | undefined): EndState | undefined {
  if (!window.RTCPeerConnection) return "unsupported";
  if (!boot.room?.exists) return "not-found";
  if (boot.room.status === "ended") return "ended";
  if (boot.tokenError) return stateForProblem(boot.tokenError.code);
  if (!token && !boot.room.allowGuests) return "no-link";
  const exp = token ? tokenClaims(token).exp : undefined;
  if (exp && exp * 1000 < Date.now()) return "expired";
  return undefined;
}

async function mintGuestToken(name: string): Promise<string> {
  const res = await fetch(`${origin}/api/rooms/${encodeURIComponent(boot.roomId)}/guest`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  const body = (await res.json().catch(() => ({}))) as { token?: string; code?: string; detail?: string };
  if (res.ok && body.token) return body.token;
  if (body.code && body.code !== "validation_failed") {
    end(stateForProblem(body.code), body.detail);
    throw new Error(body.detail ?? "Could not join");
  }
  throw new Error(body.detail ?? `Could not join (HTTP ${res.status}). Check your connection and try again.`);
}

function main(): void {
  const token = takeToken(boot.roomId);
  const blocked = firstScreen(token);
  if (blocked) return end(blocked, boot.tokenError?.detail);

  const media = new LocalMedia();
  const claims = token ? tokenClaims(token) : {};
  const pre = new PrejoinView(boot, media, { origin, token, guest: !token, defaultName: claims.name });
  pre.onJoin = async (req) => {
    hook.state.joinClickedAt = performance.now();
    let t = token;
    if (!t) {
      t = await mintGuestToken(req.name!);
      storeToken(boot.roomId, t);
    }
    pre.stop();
    const session = new CallSession(
      {
        origin,
        token: t,
        roomId: boot.roomId,
        title: boot.room.title,
        relayOnly: options.relayOnly,
        // The check found WebSockets blocked: do not spend seconds finding that out again.
        transport: options.forcePoll || req.websocketOk === false ? "poll" : "ws",
        speaker: req.speaker,
        extensions: EXTENSIONS,
      },
      media,
      { show, end },
    );
    session.timings.joinClicked = hook.state.joinClickedAt;
    hook.attach(session);
    session.start();
  };
  show(pre.el);
  void pre.start();
}

main();
