/** Full-page states that end or block a call, each with what the person can do next. */
import { h } from "../dom.js";

export type EndState =
  | "ended"
  | "full"
  | "expired"
  | "invalid"
  | "removed"
  | "denied"
  | "not-found"
  | "replaced"
  | "left"
  | "forbidden"
  | "no-link"
  | "unsupported";

const TEXT: Record<EndState, { title: string; body: string; action?: "rejoin" | "retry" | "here" }> = {
  ended: { title: "This call has ended", body: "The call is over. You can close this page." },
  full: { title: "This call is full", body: "The call already has as many people as it allows. Try again in a moment, or contact the person who invited you.", action: "retry" },
  expired: { title: "This link has expired", body: "For your privacy, call links only work for a limited time. Ask the person who invited you for a new link." },
  invalid: { title: "This link does not work", body: "The link may be cut short. Copy the whole link from the e-mail or message you received, or ask for a new one." },
  removed: { title: "You were removed from the call", body: "The host removed you from this call. If you think this was a mistake, contact the person who invited you." },
  denied: { title: "The host did not let you in", body: "Your request to join was declined. If you think this was a mistake, contact the person who invited you." },
  "not-found": { title: "This call does not exist", body: "Check that you opened the whole link. The call may also have been cancelled." },
  replaced: { title: "You joined from somewhere else", body: "This call is now open in another tab or on another device, so it was closed here.", action: "here" },
  left: { title: "You left the call", body: "You can close this page, or join again if you left by mistake.", action: "rejoin" },
  forbidden: { title: "You cannot join this call", body: "This link does not give access to this call. Contact the person who invited you." },
  "no-link": { title: "You need a personal link", body: "This call only admits invited people. Use the link from your invitation, or ask the organiser to send you one." },
  unsupported: { title: "This browser cannot make video calls", body: "Open the link in a current version of Chrome, Edge, Firefox or Safari." },
};

export function endStateView(state: EndState, detail?: string): HTMLElement {
  const t = TEXT[state];
  const actions = h("div", { class: "actions" });
  if (t.action) {
    const label = t.action === "rejoin" ? "Join again" : t.action === "retry" ? "Try again" : "Use this tab";
    const b = h("button", { type: "button", class: "btn primary" }, label);
    b.addEventListener("click", () => location.reload());
    actions.append(b);
  }
  const view = h(
    "main",
    { class: "end-state", "data-state": state, "aria-labelledby": "end-title" },
    h("div", { class: "card" }, h("h1", { id: "end-title", tabindex: "-1" }, t.title), h("p", {}, t.body), detail ? h("p", { class: "detail" }, detail) : null, actions),
  );
  return view;
}

/** Maps a server problem code (HTTP) to the state shown. */
export function stateForProblem(code: string): EndState {
  switch (code) {
    case "token_expired":
      return "expired";
    case "room_ended":
      return "ended";
    case "room_full":
      return "full";
    case "participant_removed":
      return "removed";
    case "room_not_found":
      return "not-found";
    case "guests_not_allowed":
      return "no-link";
    default:
      return "invalid";
  }
}
