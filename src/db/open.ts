import Database from "better-sqlite3";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { migrationsDir, rootDir, sqliteNativeBinding } from "../runtime.js";
import * as schema from "./schema.js";

export type Db = BetterSQLite3Database<typeof schema>;
export interface Database_ {
  sqlite: Database.Database;
  db: Db;
  close(): void;
}

/** The repository's migrations folder (from source); the single executable uses its embedded copy. */
export const defaultMigrationsDir = join(rootDir(), "migrations");

export function databaseFile(dataDir: string): string {
  return join(dataDir, "parley.sqlite");
}

/**
 * Opens (creating if needed) the SQLite file and applies pending migrations.
 * WAL lets readers (status pages, backups) run beside the one writer; a busy
 * timeout covers `parley backup` or `sqlite3` holding a lock for a moment.
 */
export function openDatabase(file: string, migrationsFolder = migrationsDir(dirname(file))): Database_ {
  mkdirSync(dirname(file), { recursive: true });
  // The single executable carries its own copy of the native addon and migrations (see runtime.ts).
  const sqlite = new Database(file, { nativeBinding: sqliteNativeBinding(dirname(file)) as string | undefined });
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder });
  return {
    sqlite,
    db,
    close() {
      if (sqlite.open) {
        sqlite.pragma("wal_checkpoint(TRUNCATE)");
        sqlite.close();
      }
    },
  };
}
