// Waiting, shared by the test suites and the benchmarks.

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `fn` (sync or async) every `stepMs` until it returns a truthy value, and returns
 * that value. An error from `fn` counts as "not yet" (unless `retryErrors` is false). On
 * timeout, throws naming `what` with the last value or error.
 */
export async function until(fn, { timeoutMs = 20000, stepMs = 200, what = 'condition', retryErrors = true } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  let lastError = null;
  for (;;) {
    try {
      last = await fn();
      lastError = null;
      if (last) return last;
    } catch (e) {
      if (!retryErrors) throw e;
      lastError = e;
    }
    if (Date.now() > deadline) {
      const detail = lastError ? `last error: ${lastError.message}` : `last: ${JSON.stringify(last)?.slice(0, 2000)}`;
      const error = new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${detail}`);
      if (lastError) error.cause = lastError;
      throw error;
    }
    await sleep(stepMs);
  }
}
