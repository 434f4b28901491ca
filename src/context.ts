import { statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuditLog } from "./audit/log.js";
import type { Config } from "./config.js";
import { databaseFile, openDatabase, type Database_, type Db } from "./db/open.js";
import { EventBus } from "./events/bus.js";
import type { Logger } from "./log.js";
import { createMetrics, type Metrics } from "./ops/metrics.js";
import { Attendance } from "./rooms/attendance.js";
import { RoomService } from "./rooms/service.js";
import { appVersion } from "./runtime.js";

export const VERSION: string = appVersion();

/** Live figures that the transports fill in; health and metrics read them. */
export interface LiveCounters {
  connections(): number;
  activeRooms(): number;
  /**
   * Whether a participant may have media resources (TURN credentials,
   * recordings) now: false while they wait in a lobby. Signaling replaces
   * the default, which only knows a room's settings.
   */
  isAdmitted(roomId: string, participantId: string, role: string): boolean;
}

/** What every capability is built from: config, storage, the bus and the core services. */
export interface AppContext {
  config: Config;
  log: Logger;
  database: Database_;
  db: Db;
  bus: EventBus;
  metrics: Metrics;
  audit: AuditLog;
  attendance: Attendance;
  rooms: RoomService;
  live: LiveCounters;
  version: string;
  startedAt: number;
  /** "ready" once every capability has started; /health answers 503 in the other two phases. */
  phase: "starting" | "ready" | "stopping";
}

export function createContext(config: Config, log: Logger, migrationsFolder?: string): AppContext {
  const database = openDatabase(databaseFile(config.dataDir), migrationsFolder);
  const db = database.db;
  const bus = new EventBus((event, err) => log.error({ err, event }, "event listener failed"));
  const audit = new AuditLog(db);
  const attendance = new Attendance(db, bus, log);
  const closed = attendance.closeDangling(lastAlive(config.dataDir));
  if (closed) log.warn({ closed }, "closed attendance spans left open by the previous run");
  const rooms = new RoomService({ db, config, bus, audit, attendance });
  const live: LiveCounters = {
    connections: () => 0,
    activeRooms: () => rooms.countByStatus("active"),
    isAdmitted: (roomId, _participantId, role) => role === "host" || role === "moderator" || rooms.get(roomId)?.waitingRoom === false,
  };
  return { config, log, database, db, bus, metrics: createMetrics(), audit, attendance, rooms, live, version: VERSION, startedAt: Date.now(), phase: "starting" };
}

const ALIVE_FILE = ".alive";

/**
 * The server touches this file while it runs (see `markAlive`), so after a
 * crash the attendance spans left open are closed at the last moment the
 * server was known to be up, not at the restart — downtime is not attendance.
 */
function lastAlive(dataDir: string): string {
  try {
    return statSync(join(dataDir, ALIVE_FILE)).mtime.toISOString();
  } catch {
    return new Date().toISOString();
  }
}

export function markAlive(dataDir: string): void {
  const file = join(dataDir, ALIVE_FILE);
  const now = new Date();
  try {
    utimesSync(file, now, now);
  } catch {
    writeFileSync(file, "");
  }
}
