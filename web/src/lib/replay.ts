// What the "Replay to…" form keeps and reads: the last target (per browser),
// the reason of a refused replay, and what docs/errors.md says about it.

import { ConnectError } from '@connectrpc/connect';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import reasons from 'virtual:replay-reasons';
import type { ReasonDoc } from './reasonDocs';
import type { StorageLike } from './notify';

const targetKey = 'callbackd.replay-target';

/** loadReplayTarget returns the last target replayed to in this browser, or "". */
export function loadReplayTarget(s: StorageLike): string {
  try {
    return s.getItem(targetKey) ?? '';
  } catch {
    return '';
  }
}

/** saveReplayTarget remembers url for the next replay (never the secret). */
export function saveReplayTarget(s: StorageLike, url: string): void {
  try {
    s.setItem(targetKey, url);
  } catch {
    // storage full or disabled: the form still works
  }
}

/**
 * errorReason returns the reason of callbackd's google.rpc.ErrorInfo detail
 * on a failed call ("" when it has none). The detail is decoded by hand: two
 * string fields do not justify bundling the googleapis descriptors.
 */
export function errorReason(e: unknown): string {
  for (const d of ConnectError.from(e).details) {
    if (!('type' in d) || d.type !== 'google.rpc.ErrorInfo') continue;
    try {
      const r = new BinaryReader(d.value);
      let reason = '';
      let domain = '';
      while (r.pos < r.len) {
        const [field, wire] = r.tag();
        if (field === 1 && wire === WireType.LengthDelimited) reason = r.string();
        else if (field === 2 && wire === WireType.LengthDelimited) domain = r.string();
        else r.skip(wire);
      }
      if (domain === 'callbackd') return reason;
    } catch {
      // a detail that does not decode names no reason
    }
  }
  return '';
}

/** replayReasonDoc returns what docs/errors.md says about a replay's reason, or null. */
export function replayReasonDoc(reason: string, docs: Record<string, ReasonDoc> = reasons): ReasonDoc | null {
  return Object.hasOwn(docs, reason) ? (docs[reason] ?? null) : null;
}
