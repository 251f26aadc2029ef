import { expect, test } from 'vitest';
import { Code, ConnectError } from '@connectrpc/connect';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import reasons from 'virtual:replay-reasons';
import { readFileSync } from 'node:fs';
import { parseReplayReasons } from './reasonDocs';
import { errorReason, loadReplayTarget, replayReasonDoc, saveReplayTarget } from './replay';

function errorInfo(reason: string, domain: string): Uint8Array {
  return new BinaryWriter().tag(1, 2).string(reason).tag(2, 2).string(domain).finish();
}

/** failed is a ConnectError as parsed from the wire: details as type and bytes. */
function failed(code: Code, details: Array<{ type: string; value: Uint8Array }>): ConnectError {
  const err = new ConnectError('failed', code);
  err.details.push(...details);
  return err;
}

test('errorReason reads callbackd ErrorInfo reason', () => {
  const err = failed(Code.PermissionDenied, [{ type: 'google.rpc.ErrorInfo', value: errorInfo('replay_target_forbidden', 'callbackd') }]);
  expect(errorReason(err)).toBe('replay_target_forbidden');
});

test('errorReason ignores other domains, other details and plain errors', () => {
  const other = failed(Code.Internal, [
    { type: 'google.rpc.ErrorInfo', value: errorInfo('quota', 'googleapis.com') },
    { type: 'google.rpc.RetryInfo', value: new Uint8Array([8, 1]) },
    { type: 'google.rpc.ErrorInfo', value: new Uint8Array([0xff, 0xff]) },
  ]);
  expect(errorReason(other)).toBe('');
  expect(errorReason(new Error('network'))).toBe('');
});

test('the docs explain every replay reason the form can show', () => {
  const docs = parseReplayReasons(readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8'));
  expect(reasons).toEqual(docs);
  for (const r of ['replay_disabled', 'invalid_replay_target', 'invalid_replay_signature', 'replay_target_forbidden', 'replay_target_unreachable', 'replay_target_timeout']) {
    expect(replayReasonDoc(r)?.situations.length, r).toBeGreaterThan(0);
  }
  expect(replayReasonDoc('signature_mismatch')).toBeNull();
  expect(replayReasonDoc('__proto__')).toBeNull();
});

test('the last target is remembered, and a broken storage is survived', () => {
  const m = new Map<string, string>();
  const s = { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
  expect(loadReplayTarget(s)).toBe('');
  saveReplayTarget(s, 'https://hooks.example.com/x');
  expect(loadReplayTarget(s)).toBe('https://hooks.example.com/x');
  const broken = {
    getItem: () => {
      throw new Error('denied');
    },
    setItem: () => {
      throw new Error('full');
    },
    removeItem: () => {},
  };
  expect(loadReplayTarget(broken)).toBe('');
  expect(() => saveReplayTarget(broken, 'x')).not.toThrow();
});
