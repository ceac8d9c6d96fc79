// Waiting for a condition, never for a length of time.

/** Resolves once `check` holds; fails with `what` if it still does not after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, what = "the condition", timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
