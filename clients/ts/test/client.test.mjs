// The package as Node uses it (the compiled dist/, imported by its own name)
// against a real callbackd: WatchCallbacks streams a webhook posted while the
// stream is open, over the Connect protocol and over gRPC; and webhooks
// signed by third-party signing libraries (the official `svix` package) verify.
//
// The server binary is CALLBACKD_BIN (the Go test builds it), or a fresh
// `go build ./cmd/callbackd` from the repository root.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, ConnectError } from '@connectrpc/connect';
import { CallbackStatus } from '@callbackd/client';
import { createNodeClients } from '@callbackd/client/node';
import { Webhook as SvixWebhook } from 'svix';

const secret = 'ts-client-webhook-secret-0123456789';
const token = 'ts-client-admin-token-0123456789';
const standardSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'; // the Standard Webhooks specification's example
const repoRoot = resolve(import.meta.dirname, '..', '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'callbackd-ts-client-'));

function serverBinary() {
  if (process.env.CALLBACKD_BIN) return process.env.CALLBACKD_BIN;
  const out = join(tmp, 'callbackd');
  execFileSync('go', ['build', '-o', out, './cmd/callbackd'], { cwd: repoRoot, stdio: 'inherit' });
  return out;
}

async function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

let proc;
let log = '';
let baseUrl = '';

before(async () => {
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const args = ['--addr', `127.0.0.1:${port}`, '--data-dir', join(tmp, 'data'), '--webhook-secret', `main=${secret}`, '--admin-token', `ts=${token}`, '--standard-webhooks-secret', `svix=${standardSecret}`, '--log-level', 'warn'];
  proc = spawn(serverBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (b) => (log += b));
  proc.stderr.on('data', (b) => (log += b));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`callbackd exited (${proc.exitCode}):\n${log}`);
    try {
      if ((await fetch(`${baseUrl}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`callbackd did not become ready:\n${log}`);
});

after(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000, undefined, { ref: false })]);
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
  rmSync(tmp, { recursive: true, force: true });
});

/** post signs body as the LLM service does and posts it; it returns the stored id. */
async function post(payload) {
  const body = JSON.stringify(payload);
  const res = await fetch(`${baseUrl}/api/webhooks/llm-callback`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-Webhook-Signature': 'sha256=' + createHmac('sha256', secret).update(body).digest('hex'),
      'X-Webhook-Event': payload.event,
    },
    body,
  });
  const text = await res.text();
  assert.equal(res.status, 200, `webhook answered ${res.status}: ${text}`);
  return JSON.parse(text).id;
}

for (const protocol of ['connect', 'grpc']) {
  describe(`over ${protocol}`, () => {
    test('WatchCallbacks streams a posted webhook, ListCallbacks returns it', { timeout: 30_000 }, async () => {
      const { admin, close } = createNodeClients({ baseUrl, protocol, token });
      const abort = new AbortController();
      const stream = admin.watchCallbacks({}, { signal: abort.signal })[Symbol.asyncIterator]();
      try {
        const first = await stream.next();
        assert.equal(first.done, false);
        assert.equal(first.value.message.case, 'heartbeat', 'the first message is a heartbeat');

        const jobId = randomUUID();
        const id = await post({
          event: 'workflow.completed',
          job_id: jobId,
          status: 'completed',
          workflow_name: 'w',
          timestamp: '2025-12-20T10:30:00.123456+00:00Z',
        });

        let event;
        for (;;) {
          const next = await stream.next();
          assert.equal(next.done, false, 'the stream ended before the event');
          if (next.value.message.case === 'event') {
            event = next.value.message.value;
            break;
          }
          assert.equal(next.value.message.case, 'heartbeat');
        }
        assert.equal(event.event.case, 'received');
        assert.equal(event.event.value.id, id);
        assert.equal(event.event.value.callbackId, `${jobId}:workflow.completed`);
        assert.equal(event.event.value.status, CallbackStatus.PROCESSED);
        assert.notEqual(event.cursor, '');

        const list = await admin.listCallbacks({});
        assert.ok(
          list.callbacks.some((c) => c.id === id),
          `ListCallbacks lacks ${id}`,
        );
      } finally {
        abort.abort();
        await stream.return?.().catch(() => {});
        close();
      }
    });

    test('a bad token gets Unauthenticated', { timeout: 30_000 }, async () => {
      const { admin, close } = createNodeClients({ baseUrl, protocol, token: 'not-the-admin-token-0123456789' });
      try {
        await assert.rejects(admin.listCallbacks({}), (e) => {
          assert.equal(ConnectError.from(e).code, Code.Unauthenticated);
          return true;
        });
      } finally {
        close();
      }
    });
  });
}

describe('webhooks signed by third-party libraries', () => {
  /** deliver posts body with headers and returns the status and parsed answer. */
  async function deliver(body, headers) {
    const res = await fetch(`${baseUrl}/api/webhooks/llm-callback`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body,
    });
    return { status: res.status, answer: await res.json() };
  }

  test('svix signs with its default svix-* headers, callbackd verifies', { timeout: 30_000 }, async () => {
    const wh = new SvixWebhook(standardSecret);
    const jobId = randomUUID();
    const body = JSON.stringify({ event: 'workflow.completed', job_id: jobId, status: 'completed', workflow_name: 'w', timestamp: '2025-12-20T10:30:00.123456+00:00Z' });
    const msgId = `msg_${randomUUID()}`;
    const now = new Date();
    const headers = {
      'svix-id': msgId,
      'svix-timestamp': String(Math.floor(now.getTime() / 1000)),
      'svix-signature': wh.sign(msgId, now, body),
    };
    wh.verify(body, headers); // the library accepts its own delivery

    const ok = await deliver(body, headers);
    assert.equal(ok.status, 200, JSON.stringify(ok.answer));
    assert.equal(ok.answer.callback_id, `${jobId}:workflow.completed`);

    const tampered = await deliver(body.replace('"w"', '"x"'), headers);
    assert.equal(tampered.status, 401, JSON.stringify(tampered.answer));
    assert.match(JSON.stringify(tampered.answer), /signature_mismatch/);
  });

  test('svix signs, sent under the webhook-* names, callbackd verifies', { timeout: 30_000 }, async () => {
    const wh = new SvixWebhook(standardSecret);
    const jobId = randomUUID();
    const body = JSON.stringify({ event: 'workflow.failed', job_id: jobId, status: 'failed', workflow_name: 'w', timestamp: '2025-12-20T10:30:00.123456+00:00Z', error: 'boom' });
    const msgId = `msg_${randomUUID()}`;
    const now = new Date();
    const headers = {
      'webhook-id': msgId,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': wh.sign(msgId, now, body),
    };
    wh.verify(body, headers);
    const ok = await deliver(body, headers);
    assert.equal(ok.status, 200, JSON.stringify(ok.answer));
    assert.equal(ok.answer.callback_id, `${jobId}:workflow.failed`);
  });
});
