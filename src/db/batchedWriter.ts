import type { Logger } from "../log.js";
import type { Db } from "./open.js";

/**
 * Queues writes that come from domain events and commits them together, in
 * one transaction, on the next turn of the event loop: the code that emitted
 * the event (often the relay path) never waits on SQLite. Readers that need
 * every write so far call `flush()` first.
 */
export class BatchedWriter<Op> {
  private queue: Op[] = [];
  private scheduled = false;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    /** Names the writer in the error log line. */
    private readonly what: string,
    private readonly apply: (tx: Db, op: Op) => void,
  ) {}

  push(op: Op): void {
    this.queue.push(op);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (!this.queue.length) return;
    const ops = this.queue;
    this.queue = [];
    try {
      this.db.transaction((tx) => {
        for (const op of ops) this.apply(tx as unknown as Db, op);
      });
    } catch (err) {
      this.log.error({ err, ops: ops.length }, `${this.what} write failed`);
    }
  }
}
