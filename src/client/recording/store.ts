/**
 * Chunks wait in IndexedDB until the server acknowledged them, so a reload,
 * a crash or a lost connection loses at most the chunk being recorded.
 */
export interface PendingRecording {
  recordingId: string;
  roomId: string;
  origin: string;
  token: string;
  mimeType: string;
  /** Index the next chunk gets. */
  nextIndex: number;
  /** The recorder stopped (or the page went away): once every chunk is up, complete it. */
  stopped: boolean;
  createdAt: number;
}

interface StoredChunk {
  recordingId: string;
  index: number;
  blob: Blob;
}

const DB = "parley-recordings";
const RECS = "recordings";
const CHUNKS = "chunks";

let opened: Promise<IDBDatabase> | undefined;
function db(): Promise<IDBDatabase> {
  return (opened ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => {
      const d = req.result;
      d.createObjectStore(RECS, { keyPath: "recordingId" });
      d.createObjectStore(CHUNKS, { keyPath: ["recordingId", "index"] });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  }));
}

function tx<T>(stores: string[], mode: IDBTransactionMode, fn: (t: IDBTransaction) => IDBRequest<T> | void): Promise<T | undefined> {
  return db().then(
    (d) =>
      new Promise((resolve, reject) => {
        const t = d.transaction(stores, mode);
        const req = fn(t);
        t.oncomplete = () => resolve(req ? req.result : undefined);
        t.onerror = () => reject(t.error);
        t.onabort = () => reject(t.error);
      }),
  );
}

export const putRecording = (r: PendingRecording) => tx([RECS], "readwrite", (t) => void t.objectStore(RECS).put(r));
export const getRecording = (id: string) => tx<PendingRecording>([RECS], "readonly", (t) => t.objectStore(RECS).get(id));
export const allRecordings = async () => (await tx<PendingRecording[]>([RECS], "readonly", (t) => t.objectStore(RECS).getAll())) ?? [];
export const putChunk = (recordingId: string, index: number, blob: Blob) => tx([CHUNKS], "readwrite", (t) => void t.objectStore(CHUNKS).put({ recordingId, index, blob } satisfies StoredChunk));
export const getChunk = async (recordingId: string, index: number) => (await tx<StoredChunk>([CHUNKS], "readonly", (t) => t.objectStore(CHUNKS).get([recordingId, index])))?.blob;
export const deleteChunk = (recordingId: string, index: number) => tx([CHUNKS], "readwrite", (t) => void t.objectStore(CHUNKS).delete([recordingId, index]));
export const chunkIndexes = async (recordingId: string): Promise<number[]> =>
  ((await tx<IDBValidKey[]>([CHUNKS], "readonly", (t) => t.objectStore(CHUNKS).getAllKeys(IDBKeyRange.bound([recordingId, 0], [recordingId, Infinity])))) ?? []).map(
    (k) => (k as [string, number])[1],
  );
export const deleteRecording = (id: string) =>
  tx([RECS, CHUNKS], "readwrite", (t) => {
    t.objectStore(RECS).delete(id);
    t.objectStore(CHUNKS).delete(IDBKeyRange.bound([id, 0], [id, Infinity]));
  });
