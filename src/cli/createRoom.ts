import { parseArgs } from "node:util";
import { AuditLog } from "../audit/log.js";
import { loadConfig } from "../config.js";
import { databaseFile, openDatabase } from "../db/open.js";
import { EventBus } from "../events/bus.js";
import { HttpProblem } from "../http/problem.js";
import { createLogger } from "../log.js";
import { Attendance } from "../rooms/attendance.js";
import { createRoomBody } from "../rooms/schemas.js";
import { RoomService } from "../rooms/service.js";
import { UsageError } from "./shared.js";

/**
 * `parley create-room`: writes the room straight into the database through
 * RoomService, so it works whether or not the server is running (SQLite's WAL
 * and busy timeout let it share the file with a running server, which reads
 * rooms from the database when someone joins).
 */
export function createRoomCommand(args: string[], env: NodeJS.ProcessEnv, out: NodeJS.WritableStream): number {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        title: { type: "string" },
        host: { type: "string", default: "Host" },
        guest: { type: "string", multiple: true },
        "allow-guests": { type: "boolean", default: false },
        "waiting-room": { type: "boolean", default: false },
        json: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nusage: parley create-room [--title <text>] [--host <name>] [--guest <name>]... [--allow-guests] [--waiting-room] [--json]`);
  }
  const guests = values.guest ?? ["Guest"];
  const parsed = createRoomBody.safeParse({
    title: values.title,
    allowGuests: values["allow-guests"],
    waitingRoom: values["waiting-room"],
    participants: [{ name: values.host, role: "host" }, ...guests.map((name) => ({ name, role: "participant" }))],
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`${issue.path.join(".") || "arguments"}: ${issue.message}`);
  }

  // Secrets come from the data dir exactly as the server reads them, so the printed tokens are valid there.
  const config = loadConfig(env);
  const database = openDatabase(databaseFile(config.dataDir));
  try {
    const bus = new EventBus();
    const log = createLogger("silent");
    const rooms = new RoomService({ db: database.db, config, bus, audit: new AuditLog(database.db), attendance: new Attendance(database.db, bus, log) });
    let room;
    try {
      room = rooms.create(parsed.data, "cli");
    } catch (err) {
      if (err instanceof HttpProblem) throw new UsageError(err.detail);
      throw err;
    }
    if (config.generated.includes("PARLEY_API_KEY")) {
      // This command made the secrets, so the server will not print the key on its first start: show it here, once.
      process.stderr.write(`Parley generated its secrets in ${config.dataDir}/secrets.json; API key (shown only this once): ${config.apiKey}\n`);
    }
    if (values.json) {
      out.write(JSON.stringify(room, null, 2) + "\n");
      return 0;
    }
    const lines = [`Room ${room.roomId}${room.title ? ` "${room.title}"` : ""} created. Send each person their own link:`];
    const width = Math.max(...room.participants.map((p) => `${p.name} (${p.role})`.length));
    for (const p of room.participants) lines.push(`  ${`${p.name} (${p.role})`.padEnd(width)}  ${p.joinUrl}`);
    if (room.allowGuests) lines.push(`  ${"anyone (asks for a name)".padEnd(width)}  ${room.joinUrl}`);
    out.write(lines.join("\n") + "\n");
    return 0;
  } finally {
    database.close();
  }
}
