// Resume-cursor tracking: the last position of the WatchCallbacks stream and
// the cursors already seen, so that a replay after a reconnect or a change
// of leader tab delivers nothing twice.

/** CursorTracker remembers where the stream is and which events were seen. */
export class CursorTracker {
  private readonly seen = new Set<string>();
  private readonly order: string[] = [];
  private last = '';

  constructor(private readonly limit = 5000) {}

  /** cursor is where a new stream resumes from ("" = from now). */
  get cursor(): string {
    return this.last;
  }

  /**
   * accept records an event and reports whether it is new. A duplicate
   * (same cursor) is dropped by the caller.
   */
  accept(cursor: string): boolean {
    if (cursor === '' || this.seen.has(cursor)) return false;
    this.seen.add(cursor);
    this.order.push(cursor);
    if (this.order.length > this.limit) {
      const old = this.order.shift();
      if (old !== undefined) this.seen.delete(old);
    }
    this.last = cursor;
    return true;
  }

  /**
   * position records a heartbeat: the stream's position after everything
   * it delivered, to resume from.
   */
  position(cursor: string): void {
    if (cursor !== '') this.last = cursor;
  }

  /** reset forgets the position, e.g. when the server no longer knows it. */
  reset(): void {
    this.last = '';
  }
}
