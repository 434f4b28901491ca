/**
 * The staff console (/console): create rooms, invite people, watch who is
 * in the call and who waits in the lobby, end a visit, fetch recordings and
 * read the summary. Talks only to the management API and /events with the
 * API key the person typed once (kept in sessionStorage: gone when the tab
 * closes).
 */
import "./console.css";
import { api, ApiError, download, session } from "./api.js";
import { $, announce, copy, duration, h, time } from "./dom.js";

interface Room {
  roomId: string;
  title: string | null;
  status: "waiting" | "active" | "ended";
  waitingRoom: boolean;
  recording: { enabled: boolean; requireConsent: boolean };
  scheduledStartTime: string | null;
  maxDuration: number | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  joinUrl: string;
}
interface StatusParticipant {
  id: string;
  role: string;
  name: string | null;
  connected: boolean;
  joinedAt: string | null;
  leftAt: string | null;
  totalDuration: number;
}
interface Invite {
  inviteId: string;
  email: string;
  name: string | null;
  status: string;
  delivery: string;
  joinUrl: string;
  lastError: string | null;
  sendAt: string | null;
}

const STATUS_POLL_MS = 3000;
const LIST_POLL_MS = 10_000;

const app = $("#app")!;
let selected: string | null = null;
let events: WebSocket | null = null;
let statusTimer: number | undefined;
let listTimer: number | undefined;
const lobby = new Map<string, { name: string; since: string }>();

function errorText(err: unknown): string {
  return err instanceof ApiError ? `${err.message} (${err.code})` : err instanceof Error ? err.message : String(err);
}

function showError(where: HTMLElement, err: unknown): void {
  where.textContent = errorText(err);
  where.hidden = false;
}

// ---- sign in -------------------------------------------------------------

function renderLogin(message?: string): void {
  stopRoom();
  clearInterval(listTimer);
  const error = h("p", { class: "error", role: "alert", id: "login-error", hidden: !message }, message ?? "");
  const input = h("input", { id: "api-key", type: "password", name: "apiKey", autocomplete: "current-password", required: true, "aria-describedby": "key-help" });
  const form = h(
    "form",
    {
      class: "card login",
      onsubmit: async (e: SubmitEvent) => {
        e.preventDefault();
        try {
          await api("/api/rooms?limit=1", { key: input.value.trim() });
          session.key = input.value.trim();
          renderMain();
        } catch (err) {
          showError(error, err instanceof ApiError && err.status === 401 ? new Error("That API key was not accepted.") : err);
        }
      },
    },
    h("h1", {}, "Staff console"),
    h("label", { for: "api-key" }, "API key"),
    input,
    h("p", { id: "key-help", class: "hint" }, "The PARLEY_API_KEY of this server. It is kept only for this browser tab."),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  app.replaceChildren(h("main", { class: "narrow" }, form));
  input.focus();
}

// ---- main layout -----------------------------------------------------------

function renderMain(): void {
  app.replaceChildren(
    h(
      "header",
      { class: "top" },
      h("h1", {}, "Staff console"),
      h(
        "button",
        {
          type: "button",
          class: "quiet",
          onclick: () => {
            session.key = null;
            renderLogin();
          },
        },
        "Sign out",
      ),
    ),
    h(
      "main",
      { class: "layout" },
      h("section", { class: "side", "aria-labelledby": "new-room-h" }, createRoomForm(), h("h2", { id: "rooms-h" }, "Rooms"), h("ul", { id: "room-list", class: "rooms", "aria-labelledby": "rooms-h" })),
      h("section", { id: "room", class: "detail", "aria-live": "off" }, h("p", { class: "hint" }, "Create a room or pick one from the list.")),
    ),
  );
  void refreshList();
  listTimer = window.setInterval(() => void refreshList(), LIST_POLL_MS);
}

function createRoomForm(): HTMLElement {
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const field = (id: string, label: string, input: HTMLElement) => h("div", { class: "field" }, h("label", { for: id }, label), input);
  const check = (id: string, label: string, checked = false) => h("div", { class: "check" }, h("input", { id, type: "checkbox", checked }), h("label", { for: id }, label));
  const form = h(
    "form",
    {
      id: "new-room",
      class: "card",
      onsubmit: async (e: SubmitEvent) => {
        e.preventDefault();
        error.hidden = true;
        const v = (id: string) => ($<HTMLInputElement>(`#${id}`, form)!.value ?? "").trim();
        const on = (id: string) => $<HTMLInputElement>(`#${id}`, form)!.checked;
        const when = v("room-start");
        const minutes = Number(v("room-duration"));
        const body: Record<string, unknown> = {
          title: v("room-title") || undefined,
          waitingRoom: on("room-waiting"),
          recording: { enabled: on("room-recording"), requireConsent: on("room-consent") },
          participants: [{ name: v("room-host") || "Host", role: "host" }],
        };
        if (when) body.scheduledStartTime = new Date(when).toISOString();
        if (minutes > 0) body.maxDuration = Math.round(minutes * 60);
        try {
          const room = await api<{ roomId: string; participants: { joinUrl: string }[] }>("/api/rooms", { method: "POST", json: body });
          form.reset();
          announce("Room created");
          await refreshList();
          await openRoom(room.roomId, room.participants[0]?.joinUrl);
        } catch (err) {
          showError(error, err);
        }
      },
    },
    h("h2", { id: "new-room-h" }, "New room"),
    field("room-title", "Title", h("input", { id: "room-title", name: "title", maxlength: 200, placeholder: "Follow-up visit" })),
    field("room-start", "Starts at (optional)", h("input", { id: "room-start", name: "start", type: "datetime-local" })),
    field("room-duration", "Length in minutes (optional)", h("input", { id: "room-duration", name: "duration", type: "number", min: 1, max: 1440, inputmode: "numeric" })),
    field("room-host", "Host name", h("input", { id: "room-host", name: "host", maxlength: 120, placeholder: "Host" })),
    check("room-waiting", "Waiting room (the host admits people)", true),
    check("room-recording", "Allow recording"),
    check("room-consent", "Recording needs everyone's consent", true),
    error,
    h("button", { type: "submit", class: "primary" }, "Create room"),
  );
  return form;
}

async function refreshList(): Promise<void> {
  const list = $("#room-list");
  if (!list) return;
  try {
    const { rooms } = await api<{ rooms: Room[] }>("/api/rooms?limit=50");
    list.replaceChildren(
      ...rooms.map((r) =>
        h(
          "li",
          {},
          h(
            "button",
            { type: "button", class: `room-item${r.roomId === selected ? " current" : ""}`, "aria-current": r.roomId === selected ? "true" : null, "data-room": r.roomId, onclick: () => void openRoom(r.roomId) },
            h("span", { class: "title" }, r.title ?? r.roomId),
            h("span", { class: `badge ${r.status}` }, r.status),
            h("span", { class: "when" }, r.scheduledStartTime ? time(r.scheduledStartTime) : `created ${time(r.createdAt)}`),
          ),
        ),
      ),
    );
    if (!rooms.length) list.replaceChildren(h("li", { class: "hint" }, "No rooms yet."));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) renderLogin("The API key is no longer accepted; sign in again.");
  }
}

// ---- one room ----------------------------------------------------------------

function stopRoom(): void {
  clearInterval(statusTimer);
  events?.close();
  events = null;
  lobby.clear();
}

async function openRoom(roomId: string, hostLink?: string): Promise<void> {
  stopRoom();
  selected = roomId;
  const panel = $("#room")!;
  let room: Room;
  try {
    room = await api<Room>(`/api/rooms/${encodeURIComponent(roomId)}`);
  } catch (err) {
    panel.replaceChildren(h("p", { class: "error", role: "alert" }, errorText(err)));
    return;
  }
  void refreshList();
  const id = encodeURIComponent(roomId);
  const parts: (HTMLElement | null)[] = [
    h(
      "div",
      { class: "room-head" },
      h("h2", { id: "room-title-h", tabindex: -1 }, room.title ?? room.roomId),
      h("span", { id: "room-status", class: `badge ${room.status}` }, room.status),
    ),
    h(
      "p",
      { class: "meta" },
      room.scheduledStartTime ? `Starts ${time(room.scheduledStartTime)}` : "No scheduled time",
      room.maxDuration ? ` · ${Math.round(room.maxDuration / 60)} min` : "",
      room.waitingRoom ? " · waiting room" : "",
      room.recording.enabled ? ` · recording${room.recording.requireConsent ? " with consent" : ""}` : "",
    ),
    hostLink ? linkRow("Host link", hostLink) : null,
    room.status !== "ended"
      ? h("button", { type: "button", id: "end-room", class: "danger", onclick: () => void endRoom(roomId) }, "End room for everyone")
      : null,
    h("section", { "aria-labelledby": "live-h" }, h("h3", { id: "live-h" }, "In the call"), h("ul", { id: "connected", class: "people", "aria-live": "polite" })),
    h("section", { "aria-labelledby": "lobby-h" }, h("h3", { id: "lobby-h" }, "Waiting in the lobby"), h("ul", { id: "lobby", class: "people", "aria-live": "polite" })),
    room.status !== "ended" ? inviteSection(roomId) : null,
    h("section", { "aria-labelledby": "inv-h" }, h("h3", { id: "inv-h" }, "Invites"), h("ul", { id: "invites", class: "invites" })),
    h("section", { "aria-labelledby": "att-h" }, h("h3", { id: "att-h" }, "Everyone invited or seen"), h("div", { id: "attendance", class: "table-wrap" })),
    h("section", { "aria-labelledby": "rec-h" }, h("h3", { id: "rec-h" }, "Recordings"), h("div", { id: "recordings" })),
    h("section", { "aria-labelledby": "sum-h" }, h("h3", { id: "sum-h" }, "Summary"), h("div", { id: "summary" })),
    h("section", { "aria-labelledby": "log-h" }, h("h3", { id: "log-h" }, "Live events"), h("ol", { id: "event-log", class: "log" })),
  ];
  panel.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  $<HTMLElement>("#room-title-h")?.focus();
  await Promise.all([refreshStatus(roomId), refreshInvites(roomId), refreshRecordings(roomId), refreshSummary(roomId, room.status)]);
  statusTimer = window.setInterval(() => void refreshStatus(roomId), STATUS_POLL_MS);
  subscribe(roomId, id);
}

function linkRow(label: string, url: string): HTMLElement {
  const btn = h("button", { type: "button", class: "quiet" }, "Copy");
  btn.addEventListener("click", () => void copy(url, btn));
  return h("div", { class: "link-row" }, h("span", { class: "label" }, label), h("input", { readonly: true, value: url, "aria-label": label, class: "link" }), btn);
}

function subscribe(roomId: string, id: string): void {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/events/${id}?token=${encodeURIComponent(session.key ?? "")}`);
  events = ws;
  ws.onmessage = (m) => {
    if (selected !== roomId) return;
    const frame = JSON.parse(String(m.data)) as { type: string; data: Record<string, any> };
    onEvent(roomId, frame);
  };
  ws.onclose = () => {
    // Polling continues; reconnect the live feed a little later if this room is still open.
    if (events === ws && selected === roomId) setTimeout(() => events === ws && selected === roomId && subscribe(roomId, id), 5000);
  };
}

function onEvent(roomId: string, f: { type: string; data: Record<string, any> }): void {
  if (f.type === "subscribed") return;
  const d = f.data;
  if (f.type === "participant-waiting") lobby.set(d.participantId, { name: d.name ?? d.participantId, since: d.timestamp });
  if (["participant-admitted", "participant-denied", "participant-joined", "participant-left", "participant-removed"].includes(f.type)) lobby.delete(d.participantId);
  const log = $("#event-log");
  if (log) {
    log.prepend(h("li", {}, h("time", { datetime: d.timestamp }, new Date(d.timestamp ?? Date.now()).toLocaleTimeString()), ` ${f.type}${d.participantId ? ` · ${d.name ?? d.participantId}` : ""}`));
    while (log.children.length > 30) log.lastElementChild?.remove();
  }
  if (f.type === "participant-joined") announce(`${d.name ?? d.participantId} joined`);
  if (f.type === "participant-waiting") announce(`${d.name ?? d.participantId} is waiting in the lobby`);
  void refreshStatus(roomId);
  if (f.type === "recording-ready") void refreshRecordings(roomId);
  if (f.type === "summary-ready") void refreshSummary(roomId, "ended");
}

async function refreshStatus(roomId: string): Promise<void> {
  try {
    const st = await api<{ status: string; participants: Record<string, StatusParticipant> }>(`/api/rooms/${encodeURIComponent(roomId)}/status`);
    if (selected !== roomId) return;
    const badge = $("#room-status");
    if (badge) {
      badge.textContent = st.status;
      badge.className = `badge ${st.status}`;
    }
    if (st.status === "ended") $("#end-room")?.remove();
    const people = Object.values(st.participants);
    const connected = people.filter((p) => p.connected);
    $("#connected")?.replaceChildren(
      ...(connected.length
        ? connected.map((p) => h("li", { "data-participant": p.id }, h("strong", {}, p.name ?? p.id), ` · ${p.role} · since ${time(p.joinedAt)}`))
        : [h("li", { class: "hint" }, "Nobody is connected.")]),
    );
    for (const p of connected) lobby.delete(p.id);
    $("#lobby")?.replaceChildren(
      ...(lobby.size
        ? [...lobby].map(([id, w]) => h("li", { "data-participant": id }, h("strong", {}, w.name), ` · waiting since ${new Date(w.since).toLocaleTimeString()}`))
        : [h("li", { class: "hint" }, "Nobody is waiting.")]),
    );
    $("#attendance")?.replaceChildren(
      people.length
        ? h(
            "table",
            {},
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Role"), h("th", { scope: "col" }, "Connected"), h("th", { scope: "col" }, "Time in call"))),
            h("tbody", {}, ...people.map((p) => h("tr", {}, h("td", {}, p.name ?? p.id), h("td", {}, p.role), h("td", {}, p.connected ? "yes" : "no"), h("td", {}, duration(p.totalDuration))))),
          )
        : h("p", { class: "hint" }, "Nobody yet."),
    );
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) renderLogin("The API key is no longer accepted; sign in again.");
  }
}

function inviteSection(roomId: string): HTMLElement {
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const result = h("div", { id: "invite-result" });
  const roleSelect = (id: string) =>
    h("select", { id }, h("option", { value: "participant" }, "Participant"), h("option", { value: "host" }, "Host"), h("option", { value: "moderator" }, "Moderator"), h("option", { value: "viewer" }, "Viewer"));
  const form = h(
    "form",
    {
      id: "invite-form",
      class: "card inline",
      onsubmit: async (e: SubmitEvent) => {
        e.preventDefault();
        error.hidden = true;
        const email = $<HTMLInputElement>("#invite-email", form)!.value.trim();
        const name = $<HTMLInputElement>("#invite-name", form)!.value.trim();
        const role = $<HTMLSelectElement>("#invite-role", form)!.value;
        try {
          const inv = await api<Invite>(`/api/rooms/${encodeURIComponent(roomId)}/invites`, { method: "POST", json: { email, name: name || undefined, role } });
          result.replaceChildren(h("p", { class: "ok", role: "status" }, `Invite to ${inv.email}: ${inv.status} (${inv.delivery === "outbox" ? "written to the outbox" : "sent by e-mail"}).`), linkRow("Their link", inv.joinUrl));
          form.reset();
          await refreshInvites(roomId);
        } catch (err) {
          showError(error, err);
        }
      },
    },
    h("h3", {}, "Invite by e-mail"),
    h("div", { class: "field" }, h("label", { for: "invite-email" }, "E-mail"), h("input", { id: "invite-email", type: "email", required: true, autocomplete: "off", inputmode: "email" })),
    h("div", { class: "field" }, h("label", { for: "invite-name" }, "Name (optional)"), h("input", { id: "invite-name", maxlength: 120 })),
    h("div", { class: "field" }, h("label", { for: "invite-role" }, "Role"), roleSelect("invite-role")),
    error,
    h("button", { type: "submit", class: "primary" }, "Send invite"),
  );
  const linkError = h("p", { class: "error", role: "alert", hidden: true });
  const linkForm = h(
    "form",
    {
      id: "link-form",
      class: "card inline",
      onsubmit: async (e: SubmitEvent) => {
        e.preventDefault();
        linkError.hidden = true;
        const name = $<HTMLInputElement>("#link-name", linkForm)!.value.trim();
        const role = $<HTMLSelectElement>("#link-role", linkForm)!.value;
        try {
          const t = await api<{ joinUrl: string }>(`/api/rooms/${encodeURIComponent(roomId)}/tokens`, { method: "POST", json: { name, role } });
          result.replaceChildren(linkRow(`Link for ${name}`, t.joinUrl));
          linkForm.reset();
        } catch (err) {
          showError(linkError, err);
        }
      },
    },
    h("h3", {}, "Or make a link to share yourself"),
    h("div", { class: "field" }, h("label", { for: "link-name" }, "Name"), h("input", { id: "link-name", required: true, maxlength: 120 })),
    h("div", { class: "field" }, h("label", { for: "link-role" }, "Role"), roleSelect("link-role")),
    linkError,
    h("button", { type: "submit" }, "Make link"),
  );
  return h("section", { class: "invite" }, form, linkForm, result);
}

async function refreshInvites(roomId: string): Promise<void> {
  const list = $("#invites");
  if (!list) return;
  try {
    const { invites } = await api<{ invites: Invite[] }>(`/api/rooms/${encodeURIComponent(roomId)}/invites`);
    list.replaceChildren(
      ...(invites.length
        ? invites.map((i) => {
            const copyBtn = h("button", { type: "button", class: "quiet" }, "Copy link");
            copyBtn.addEventListener("click", () => void copy(i.joinUrl, copyBtn));
            const resend = h("button", { type: "button", class: "quiet" }, "Resend");
            resend.addEventListener("click", async () => {
              try {
                await api(`/api/rooms/${encodeURIComponent(roomId)}/invites/${i.inviteId}/resend`, { method: "POST" });
                announce(`Invite to ${i.email} sent again`);
              } catch (err) {
                announce(errorText(err));
              }
              void refreshInvites(roomId);
            });
            return h(
              "li",
              { "data-invite": i.inviteId },
              h("span", {}, i.name ? `${i.name} <${i.email}>` : i.email),
              h("span", { class: `badge ${i.status}` }, i.status === "scheduled" && i.sendAt ? `scheduled ${time(i.sendAt)}` : i.status),
              i.lastError ? h("span", { class: "hint" }, i.lastError) : null,
              copyBtn,
              resend,
            );
          })
        : [h("li", { class: "hint" }, "No invites yet.")]),
    );
  } catch {
    /* the list stays as it was; the status poll reports a lost key */
  }
}

async function refreshRecordings(roomId: string): Promise<void> {
  const box = $("#recordings");
  if (!box) return;
  try {
    const { recordings } = await api<{ recordings: { recordingId: string; status: string; format: string | null; mimeType: string; sizeBytes: number; durationSeconds: number | null; startedAt: string }[] }>(
      `/api/rooms/${encodeURIComponent(roomId)}/recordings`,
    );
    box.replaceChildren(
      recordings.length
        ? h(
            "ul",
            { class: "invites" },
            ...recordings.map((r) => {
              const ext = r.format ?? (r.mimeType.includes("mp4") ? "mp4" : "webm");
              const btn = h("button", { type: "button", class: "quiet", disabled: r.status !== "READY" }, "Download");
              btn.addEventListener("click", () => void download(`/api/recordings/${r.recordingId}/file`, `recording-${r.recordingId}.${ext}`).catch((err) => announce(errorText(err))));
              return h("li", {}, h("span", {}, `${time(r.startedAt)} · ${duration(r.durationSeconds)} · ${(r.sizeBytes / 1e6).toFixed(1)} MB`), h("span", { class: `badge ${r.status.toLowerCase()}` }, r.status.toLowerCase()), btn);
            }),
          )
        : h("p", { class: "hint" }, "No recordings."),
    );
  } catch (err) {
    box.replaceChildren(h("p", { class: "hint" }, err instanceof ApiError && err.status === 404 ? "Recordings are not available on this server." : errorText(err)));
  }
}

async function refreshSummary(roomId: string, status: string): Promise<void> {
  const box = $("#summary");
  if (!box) return;
  if (status !== "ended") {
    box.replaceChildren(h("p", { class: "hint" }, "The summary is made when the room ends."));
    return;
  }
  try {
    const s = await api<any>(`/api/rooms/${encodeURIComponent(roomId)}/summary`);
    const rows = Object.values(s.attendance as Record<string, any>);
    box.replaceChildren(
      h("p", {}, `Lasted ${duration(s.session.duration)} · ${s.chat.messages} chat messages · ${s.recordings.length} recordings · transcript ${s.summary.transcriptionAvailable ? "available" : "none"}`),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Attended"), h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, "Joins"), h("th", { scope: "col" }, "Talk time"))),
          h(
            "tbody",
            {},
            ...rows.map((a) => {
              const talk = s.summary.participantStats[a.participantId]?.talkTime;
              return h("tr", {}, h("td", {}, a.name ?? a.participantId), h("td", {}, a.attended ? "yes" : "no"), h("td", {}, duration(a.duration)), h("td", {}, a.joins), h("td", {}, talk === null || talk === undefined ? "—" : duration(talk)));
            }),
          ),
        ),
      ),
    );
  } catch (err) {
    box.replaceChildren(h("p", { class: "hint" }, errorText(err)));
  }
}

async function endRoom(roomId: string): Promise<void> {
  if (!window.confirm("End this room for everyone now?")) return;
  try {
    await api(`/api/rooms/${encodeURIComponent(roomId)}/end`, { method: "POST", json: { reason: "ended_by_staff", requestedBy: "console" } });
    announce("Room ended");
    await openRoom(roomId);
  } catch (err) {
    announce(errorText(err));
  }
}

if (session.key) renderMain();
else renderLogin();
