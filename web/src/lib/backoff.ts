// Reconnect backoff: exponential with full jitter, capped.

/** BackoffOptions bound the delays. */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

export const defaultBackoff: BackoffOptions = { baseMs: 500, maxMs: 15_000 };

/**
 * backoffDelay is the wait before reconnect attempt n (0-based): a random
 * value in [d/2, d] with d = min(max, base·2ⁿ), so that many tabs or
 * browsers do not reconnect in lockstep after a server restart.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = defaultBackoff, random: () => number = Math.random): number {
  const d = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(d / 2 + (random() * d) / 2);
}
