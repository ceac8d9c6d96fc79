// Calling a function when an access token expires, whatever its lifetime: Node's timers hold at most
// 2^31-1 ms (~24.8 days), and a longer delay fires at once (with a TimeoutOverflowWarning).
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Runs `fn` at `at` (unref'd, so it never holds the process open); returns a cancel function. */
export function atExpiry(at: Date, fn: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const left = at.getTime() - Date.now();
    if (left <= 0) return void fn();
    timer = setTimeout(left > MAX_TIMER_MS ? arm : fn, Math.min(left, MAX_TIMER_MS));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}
