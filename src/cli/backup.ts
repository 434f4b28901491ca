import Database from "better-sqlite3";
import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { databaseFile } from "../db/open.js";
import { sqliteNativeBinding } from "../runtime.js";
import { configWithoutNewSecrets, UsageError } from "./shared.js";

/**
 * `parley backup <file>`: SQLite's online backup API copies the database page
 * by page while the server keeps writing (it restarts the copy of pages that
 * change underneath), so the result is one consistent moment. Written to a
 * temporary name and renamed, so a backup that fails half-way never looks
 * like a good one. Recordings live as files in the data dir: copy those with
 * any file tool.
 */
export async function backup(args: string[], env: NodeJS.ProcessEnv, out: NodeJS.WritableStream): Promise<number> {
  const target = args[0];
  if (!target || target.startsWith("-") || args.length > 1) throw new UsageError("usage: parley backup <file>");
  const config = configWithoutNewSecrets(env);
  const source = databaseFile(config.dataDir);
  if (!existsSync(source)) throw new Error(`no database at ${source}; check PARLEY_DATA_DIR (has Parley started once with it?)`);
  const file = resolve(target);
  if (file === resolve(source)) throw new UsageError("the backup file must not be the live database itself");
  if (!existsSync(dirname(file))) throw new UsageError(`folder ${dirname(file)} does not exist`);

  const binding = sqliteNativeBinding(config.dataDir) as string | undefined;
  // The busy timeout rides out the moment the server holds the write lock (a checkpoint, a burst of writes).
  const db = new Database(source, { fileMustExist: true, timeout: 15_000, nativeBinding: binding });
  const partial = `${file}.partial-${process.pid}`;
  let pages = 0;
  try {
    await db.backup(partial, {
      progress: (p) => {
        pages = p.totalPages;
        // Copy in generous steps but keep yielding, so the server's writers are not starved.
        return 1000;
      },
    });
  } catch (err) {
    rmSync(partial, { force: true });
    throw new Error(`backup failed: ${(err as Error).message}`);
  } finally {
    db.close();
  }

  const copy = new Database(partial, { fileMustExist: true, nativeBinding: binding });
  let check: string;
  try {
    // The copy is journalled like the original; make it one self-contained file before checking.
    copy.pragma("journal_mode = DELETE");
    check = String(copy.pragma("integrity_check", { simple: true }));
  } finally {
    copy.close();
  }
  if (check !== "ok") {
    rmSync(partial, { force: true });
    throw new Error(`the copy failed its integrity check (${check}); the database was not backed up`);
  }
  renameSync(partial, file);
  const mb = (statSync(file).size / 1024 / 1024).toFixed(1);
  out.write(`Backed up ${source} to ${file} (${pages} pages, ${mb} MB); integrity check: ok.\n`);
  return 0;
}
