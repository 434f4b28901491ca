/**
 * Named limits and timings of recordings (README "Recordings"). A browser
 * cuts a chunk every ~2 s; even a 4K composite at 20 Mbit/s stays far below
 * the chunk limit, and the recording limit is about ten hours of HD video.
 */
export const MAX_CHUNK_BYTES = 8 * 1024 * 1024;
export const MAX_RECORDING_BYTES = 2 * 1024 * 1024 * 1024;
/** Highest chunk index accepted: 100,000 chunks of 2 s is more than two days. */
export const MAX_CHUNK_INDEX = 99_999;
/** How many missing indexes a 409 lists (the count is always given). */
export const MAX_LISTED_MISSING = 1000;

/**
 * Timings of the background work. Mutable only so that tests can shorten
 * them; the server never changes them.
 */
export const recordingTimings = {
  /** A recording whose room ended and that received nothing for this long is finalized from what arrived. */
  staleGraceMs: 2 * 60_000,
  /** Without a room end: an upload silent this long is treated as abandoned and finalized too. */
  abandonedAfterMs: 24 * 3600_000,
  /** How often the sweep for stale uploads and expired recordings runs. */
  sweepIntervalMs: 30_000,
  /** Retention runs at start and then this often. */
  retentionIntervalMs: 3600_000,
  /** Processing attempts before a recording is marked FAILED. */
  maxJobAttempts: 3,
  /** Wait before a failed processing attempt runs again (doubles each time). */
  jobRetryMs: 5_000,
};
