// Toast grouping: the first callback of a quiet period gets its own toast at
// once (the one-second promise); further callbacks while that toast is still
// fresh turn it into one "N new callbacks · M failed" toast instead of a pile.

import { isFailure, type CallbackSummary } from './events';

/** ToastPlan is what to show: one callback, or a group of them. */
export type ToastPlan =
  | { toastId: string; kind: 'single'; callback: CallbackSummary; failed: boolean }
  | { toastId: string; kind: 'group'; count: number; failed: number; from: string; to: string };

/** ToastGrouper decides, callback by callback, what the toast becomes. */
export class ToastGrouper {
  private group: { toastId: string; ids: Set<string>; failed: number; from: string; to: string; lastAt: number } | null = null;
  private seq = 0;

  /** windowMs: a callback within this time of the group's last one joins it. */
  constructor(private readonly windowMs = 4000) {}

  /**
   * add returns the toast to show (or update, same toastId) for a newly
   * received callback, or null for one already counted.
   */
  add(cb: CallbackSummary, now: number): ToastPlan | null {
    const g = this.group;
    const failed = isFailure(cb);
    if (g && now - g.lastAt <= this.windowMs) {
      if (g.ids.has(cb.id)) return null;
      g.ids.add(cb.id);
      g.lastAt = now;
      if (failed) g.failed += 1;
      if (cb.createTime !== '' && (g.from === '' || cb.createTime < g.from)) g.from = cb.createTime;
      if (cb.createTime > g.to) g.to = cb.createTime;
      return { toastId: g.toastId, kind: 'group', count: g.ids.size, failed: g.failed, from: g.from, to: g.to };
    }
    this.seq += 1;
    const toastId = `callbacks-${this.seq}`;
    this.group = { toastId, ids: new Set([cb.id]), failed: failed ? 1 : 0, from: cb.createTime, to: cb.createTime, lastAt: now };
    return { toastId, kind: 'single', callback: cb, failed };
  }

  /** dismissed ends the group whose toast the admin closed or acted on. */
  dismissed(toastId: string): void {
    if (this.group?.toastId === toastId) this.group = null;
  }
}

/** groupTitle says what a group toast holds: "17 new callbacks · 3 failed". */
export function groupTitle(count: number, failed: number): string {
  const total = `${count.toLocaleString('en-US')} new callback${count === 1 ? '' : 's'}`;
  return failed > 0 ? `${total} · ${failed.toLocaleString('en-US')} failed` : total;
}
