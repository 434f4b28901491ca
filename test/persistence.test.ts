import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { databaseFile, defaultMigrationsDir, openDatabase } from "../src/db/open.js";
import { createRoom, startTestServer, tempDir } from "./helpers/server.js";

interface Journal {
  entries: { idx: number; tag: string }[];
}

/** A copy of migrations/ holding only the first `n` migrations, as an older release shipped them. */
function olderMigrations(n: number): string {
  const dir = tempDir("parley-migrations-");
  cpSync(defaultMigrationsDir, dir, { recursive: true });
  const journalFile = join(dir, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalFile, "utf8")) as Journal;
  journal.entries = journal.entries.slice(0, n);
  writeFileSync(journalFile, JSON.stringify(journal));
  return dir;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

describe("storage", () => {
  it("uses WAL and enforces foreign keys", () => {
    const d = openDatabase(join(tempDir(), "p.sqlite"));
    assert.equal(d.sqlite.pragma("journal_mode", { simple: true }), "wal");
    assert.equal(d.sqlite.pragma("foreign_keys", { simple: true }), 1);
    assert.throws(() => d.sqlite.prepare("insert into sessions (id, room_id) values ('s', 'no-such-room')").run(), /FOREIGN KEY/);
    d.close();
  });

  it("keeps the audit log append-only", () => {
    const d = openDatabase(join(tempDir(), "p.sqlite"));
    d.sqlite.prepare("insert into audit_log (actor, action) values ('t', 'x')").run();
    assert.throws(() => d.sqlite.prepare("update audit_log set actor = 'y'").run(), /append-only/);
    assert.throws(() => d.sqlite.prepare("delete from audit_log").run(), /append-only/);
    d.close();
  });

  const journal = JSON.parse(readFileSync(join(defaultMigrationsDir, "meta", "_journal.json"), "utf8")) as Journal;
  for (let n = 1; n < journal.entries.length; n++) {
    it(`upgrades a database made by the first ${n} migration(s) (up to ${journal.entries[n - 1]!.tag}) and keeps its rows`, () => {
      const file = join(tempDir(), "parley.sqlite");
      const old = openDatabase(file, olderMigrations(n));
      old.sqlite.prepare("insert into rooms (id, session_id, title) values ('kept', 'sess-kept', 'Before the upgrade')").run();
      old.sqlite.prepare("insert into sessions (id, room_id) values ('sess-kept', 'kept')").run();
      old.sqlite.prepare("insert into participants (room_id, id, session_id, role, total_seconds) values ('kept', 'p', 'sess-kept', 'host', 42)").run();
      old.close();

      const upgraded = openDatabase(file);
      const row = upgraded.sqlite.prepare("select title, status, max_participants from rooms where id = 'kept'").get();
      assert.deepEqual(row, { title: "Before the upgrade", status: "waiting", max_participants: 8 });
      assert.deepEqual(upgraded.sqlite.prepare("select total_seconds from participants").get(), { total_seconds: 42 });
      const applied = upgraded.sqlite.prepare("select count(*) n from __drizzle_migrations").get() as { n: number };
      assert.equal(applied.n, journal.entries.length);
      const tables = (upgraded.sqlite.prepare("select name from sqlite_master where type = 'table'").all() as { name: string }[]).map((t) => t.name);
      for (const t of ["recordings", "invites", "webhook_deliveries", "transcript_segments"]) assert.ok(tables.includes(t), t);
      assert.equal(upgraded.sqlite.pragma("integrity_check", { simple: true }), "ok");
      upgraded.close();
    });
  }

  it("keeps rooms, sessions, attendance and generated secrets across a restart", async () => {
    let s = await startTestServer();
    const { roomId, sessionId, participants } = await createRoom(s, { title: "Survives", participants: [{ name: "Dr B", role: "host" }] });
    const { apiKey, jwtSecret } = s;
    const secrets = readFileSync(join(s.dataDir, "secrets.json"), "utf8");
    s.running.ctx.bus.emit("participant-joined", { roomId, sessionId, participantId: participants[0]!.id, name: "Dr B", role: "host", transport: "ws", at: new Date().toISOString() });
    s = await s.restart();
    try {
      assert.equal(s.apiKey, apiKey);
      assert.equal(s.jwtSecret, jwtSecret);
      assert.equal(readFileSync(join(s.dataDir, "secrets.json"), "utf8"), secrets);
      const room = await (await s.api(`/api/rooms/${roomId}`)).json();
      assert.equal(room.title, "Survives");
      assert.equal(room.sessionId, sessionId);
      const status = await (await s.api(`/api/rooms/${roomId}/status`)).json();
      const p = status.participants[participants[0]!.id];
      assert.ok(p.joinedAt, "attendance written before the stop survived");
      assert.equal(p.connected, false, "nobody is connected after a restart");
      const sessions = new Database(databaseFile(s.dataDir), { readonly: true }).prepare("select id from sessions").all();
      assert.deepEqual(sessions, [{ id: sessionId }]);
    } finally {
      await s.close();
    }
  });

  it("after a crash, closes open attendance at the last moment the server was alive", async () => {
    const dataDir = tempDir();
    const d = openDatabase(databaseFile(dataDir));
    const joined = new Date(Date.now() - 100_000).toISOString();
    d.sqlite.prepare("insert into rooms (id, session_id, status, started_at) values ('r', 's', 'active', ?)").run(joined);
    d.sqlite.prepare("insert into participants (room_id, id, session_id, role, connected, first_joined_at, last_joined_at, join_count) values ('r', 'p', 's', 'host', 1, ?, ?, 1)").run(joined, joined);
    d.close();
    const alive = new Date(Date.now() - 40_000);
    writeFileSync(join(dataDir, ".alive"), "");
    utimesSync(join(dataDir, ".alive"), alive, alive);
    const s = await startTestServer({}, { dataDir });
    try {
      const p = (await (await s.api("/api/rooms/r/status")).json()).participants.p;
      assert.equal(p.connected, false);
      assert.ok(Math.abs(p.totalDuration - 60) <= 1, `counted ${p.totalDuration} s, expected 60 (downtime excluded)`);
    } finally {
      await s.close();
    }
  });

  it("`npm start` with no configuration serves /health, prints the key once, and stops cleanly on SIGTERM", async () => {
    // Only ports are chosen (so parallel runs do not collide) and the data dir is a fresh folder.
    const cwd = tempDir("parley-start-");
    mkdirSync(cwd, { recursive: true });
    const port = await freePort();
    const turnPort = await freePort();
    const start = () =>
      spawn(process.execPath, ["--import", import.meta.resolve("tsx"), join(process.cwd(), "src/main.ts")], {
        cwd,
        env: { ...process.env, PARLEY_PORT: String(port), PARLEY_TURN_PORT: String(turnPort), PARLEY_LOG_LEVEL: "warn" },
        stdio: ["ignore", "pipe", "pipe"],
      });
    const run = async () => {
      const child = start();
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
      const deadline = Date.now() + 30_000;
      let health: { status: string } | undefined;
      while (Date.now() < deadline && !health) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/health`);
          // 503 "starting" while the capabilities come up; keep asking until it is ready.
          if (res.ok) health = await res.json();
          else await res.body?.cancel();
        } catch {
          /* not listening yet */
        }
        if (!health) await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(health?.status, "ok", out);
      const t0 = Date.now();
      const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      const code = await exit;
      assert.equal(code, 0, out);
      assert.ok(Date.now() - t0 < 10_000, "stopped within 10 s");
      return out;
    };
    const first = await run();
    const key = JSON.parse(readFileSync(join(cwd, "data", "secrets.json"), "utf8")).apiKey as string;
    assert.ok(first.includes(`API key (keep it safe, it is shown only this once): ${key}`), first);
    assert.match(first, new RegExp(`listening on http://localhost:${port}`));
    const second = await run();
    assert.ok(!second.includes(key), "the key is printed only on the start that generated it");
  });
});
