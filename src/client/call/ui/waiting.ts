/** The waiting room: a calm screen while the host decides, with the camera preview and a way out. */
import { h } from "../dom.js";

export function waitingView(opts: { title: string | null; name: string; stream?: MediaStream; onLeave(): void }): HTMLElement {
  const video = h("video", { autoplay: true, playsinline: true, muted: true, class: "mirror", "aria-label": "Your camera preview" });
  if (opts.stream && opts.stream.getVideoTracks().length) video.srcObject = opts.stream;
  else video.hidden = true;
  const leave = h("button", { type: "button", class: "btn" }, "Leave");
  leave.addEventListener("click", () => opts.onLeave());
  return h(
    "main",
    { class: "waiting", "aria-labelledby": "waiting-title" },
    h(
      "div",
      { class: "card" },
      h("div", { class: "breathe", "aria-hidden": "true" }),
      h("h1", { id: "waiting-title", tabindex: "-1" }, "Please wait, the host will let you in soon"),
      h("p", {}, `You are in the waiting room${opts.title ? ` for “${opts.title}”` : ""} as ${opts.name}. Keep this page open; the call starts here by itself.`),
      h("div", { class: "waiting-preview" }, video),
      h("div", { class: "actions" }, leave),
    ),
  );
}
