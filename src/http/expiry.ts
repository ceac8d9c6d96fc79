// Calling a function when an access token expires, whatever its lifetime. One timer serves every
// pending expiry (a queue ordered by deadline): thousands of sockets hold an entry each, not a timer
// each. Node's timers hold at most 2^31-1 ms (~24.8 days), so a far deadline is reached in steps.
import FlatQueue from "flatqueue";

const MAX_TIMER_MS = 2 ** 31 - 1;

interface Entry {
  at: number;
  fn: (() => void) | null;
}

const queue = new FlatQueue<Entry>();
let timer: NodeJS.Timeout | undefined;
let timerAt = Number.POSITIVE_INFINITY;

function fire() {
  timer = undefined;
  timerAt = Number.POSITIVE_INFINITY;
  const now = Date.now();
  while (queue.length && (queue.peekValue() as number) <= now) {
    const entry = queue.pop() as Entry;
    const fn = entry.fn;
    entry.fn = null;
    fn?.();
  }
  schedule();
}

function schedule() {
  // Cancelled entries at the head go now, so the timer waits for a live one.
  while (queue.length && !(queue.peek() as Entry).fn) queue.pop();
  if (!queue.length) return;
  const next = queue.peekValue() as number;
  if (timer && next >= timerAt) return;
  clearTimeout(timer);
  timerAt = next;
  timer = setTimeout(fire, Math.min(Math.max(0, next - Date.now()), MAX_TIMER_MS));
  timer.unref();
}

/** Runs `fn` at `at` (never holding the process open); returns a cancel function. */
export function atExpiry(at: Date, fn: () => void): () => void {
  if (at.getTime() <= Date.now()) {
    fn();
    return () => {};
  }
  const entry: Entry = { at: at.getTime(), fn };
  queue.push(entry, entry.at);
  schedule();
  return () => {
    entry.fn = null;
  };
}
