// The package as Node uses it (the compiled dist/, imported by its own name)
// against a real callbackd: WatchCallbacks streams a webhook posted while the
// stream is open, over the Connect protocol and over gRPC; and webhooks
// signed by third-party signing libraries verify (the official `svix` and
// `standardwebhooks` packages, GitHub's `@octokit/webhooks-methods`, and
// `stripe`'s test-header helper), and callbackd's own signed alert webhooks
// verify with `standardwebhooks`;
// and a current OpenAPI generator (openapi-typescript, from test/openapi/'s
// own lockfile) turns the live /openapi.v3.json into types that a live
// response type-checks against.
//
// The server binary is CALLBACKD_BIN (the Go test builds it), or a fresh
// `go build ./cmd/callbackd` from the repository root.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, ConnectError } from '@connectrpc/connect';
import { CallbackStatus } from '@callbackd/client';
import { createNodeClients } from '@callbackd/client/node';
import { Webhook as SvixWebhook } from 'svix';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { sign as signGitHub } from '@octokit/webhooks-methods';
import Stripe from 'stripe';

const secret = 'ts-client-webhook-secret-0123456789';
const token = 'ts-client-admin-token-0123456789';
const standardSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'; // the Standard Webhooks specification's example
const gitHubSecret = 'ts-client-github-secret-0123456789';
const stripeSecret = 'whsec_ts_client_stripe_secret_0123456789';
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

/**
 * startCallbackd runs the server on a free loopback port with the test's
 * credentials and extra flags, in its own data directory, and waits until it
 * is ready; after() stops every server started.
 */
const servers = [];
async function startCallbackd(extra = []) {
  const port = await freePort();
  const server = { proc: undefined, log: '', baseUrl: `http://127.0.0.1:${port}` };
  const dataDir = mkdtempSync(join(tmp, 'data-'));
  const args = ['--addr', `127.0.0.1:${port}`, '--data-dir', dataDir, '--webhook-secret', `main=${secret}`, '--admin-token', `ts=${token}`, '--log-level', 'warn', ...extra];
  server.proc = spawn(serverBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  servers.push(server);
  server.proc.stdout.on('data', (b) => (server.log += b));
  server.proc.stderr.on('data', (b) => (server.log += b));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (server.proc.exitCode !== null) throw new Error(`callbackd exited (${server.proc.exitCode}):\n${server.log}`);
    try {
      if ((await fetch(`${server.baseUrl}/readyz`)).status === 200) return server;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`callbackd did not become ready:\n${server.log}`);
}

let baseUrl = '';

before(async () => {
  const server = await startCallbackd(['--standard-webhooks-secret', `svix=${standardSecret}`, '--github-secret', `gh=${gitHubSecret}`, '--stripe-secret', `st=${stripeSecret}`]);
  baseUrl = server.baseUrl;
});

after(async () => {
  for (const { proc } of servers) {
    if (proc.exitCode !== null) continue;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000, undefined, { ref: false })]);
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
  rmSync(tmp, { recursive: true, force: true });
});

/** post signs body as the LLM service does and posts it to server (the first one by default); it returns the stored id. */
async function post(payload, server = { baseUrl }) {
  const body = JSON.stringify(payload);
  const res = await fetch(`${server.baseUrl}/api/webhooks/llm-callback`, {
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

  // Each library signs the way its service does; callbackd verifies, and a
  // changed body is refused.
  const signers = [
    ['standardwebhooks', async (body) => {
      const msgId = `msg_${randomUUID()}`;
      const now = new Date();
      return {
        'webhook-id': msgId,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': new StandardWebhook(standardSecret).sign(msgId, now, body),
      };
    }],
    ['@octokit/webhooks-methods (GitHub)', async (body) => ({ 'x-hub-signature-256': await signGitHub(gitHubSecret, body) })],
    ['stripe generateTestHeaderString', async (body) => ({
      'stripe-signature': new Stripe('sk_test_callbackd').webhooks.generateTestHeaderString({ payload: body, secret: stripeSecret }),
    })],
  ];
  for (const [name, signHeaders] of signers) {
    test(`${name} signs, callbackd verifies`, { timeout: 30_000 }, async () => {
      const jobId = randomUUID();
      const body = JSON.stringify({ event: 'workflow.completed', job_id: jobId, status: 'completed', workflow_name: 'w', timestamp: '2025-12-20T10:30:00.123456+00:00Z' });
      const headers = await signHeaders(body);
      const ok = await deliver(body, headers);
      assert.equal(ok.status, 200, JSON.stringify(ok.answer));
      assert.equal(ok.answer.callback_id, `${jobId}:workflow.completed`);
      const tampered = await deliver(body.replace('"w"', '"x"'), headers);
      assert.equal(tampered.status, 401, JSON.stringify(tampered.answer));
      assert.match(JSON.stringify(tampered.answer), /signature_mismatch/);
    });
  }
});

// callbackd as the sender: its signed-webhook alert channel posts to a Node
// receiver that verifies with the official `standardwebhooks` package, once
// per secret of a rotation; a changed body, a changed id or another secret is
// refused.
describe('alerts signed by callbackd, verified by standardwebhooks', () => {
  const oldSecret = standardSecret;
  const newSecret = `whsec_${randomBytes(32).toString('base64')}`;
  const received = []; // { body, headers, verified: string[] }
  let receiver;

  before(async () => {
    receiver = createHttpServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const verified = [];
        for (const [name, s] of [['old', oldSecret], ['new', newSecret]]) {
          try {
            new StandardWebhook(s).verify(body, req.headers);
            verified.push(name);
          } catch {
            // not signed with this secret
          }
        }
        received.push({ body, headers: { ...req.headers }, verified });
        res.writeHead(verified.length === 2 ? 204 : 401).end();
      });
    });
    await new Promise((ok) => receiver.listen(0, '127.0.0.1', ok));
  });

  after(() => new Promise((ok) => receiver.close(ok)));

  test('a failed job raises an alert whose signature verifies; a tampered body does not', { timeout: 60_000 }, async () => {
    const config = join(mkdtempSync(join(tmp, 'alerts-')), 'alerts.yaml');
    writeFileSync(
      config,
      `channels:
  - name: pager
    webhook:
      url: "http://127.0.0.1:${receiver.address().port}/hooks/callbackd"
      secrets: [${oldSecret}, ${newSecret}]
rules:
  - name: failed-jobs
    match: {event: workflow.failed}
    group_window: 0s
    channels: [pager]
`,
    );
    const server = await startCallbackd(['--alerts-config', config, '--public-url', 'https://callbackd.example.com']);
    const jobId = randomUUID();
    await post({ event: 'workflow.failed', job_id: jobId, status: 'failed', workflow_name: 'translate', error_message: 'LLM provider timed out', timestamp: '2025-12-20T10:30:00.123456+00:00Z' }, server);

    const deadline = Date.now() + 30_000;
    while (received.length === 0 && Date.now() < deadline) await sleep(100);
    assert.equal(received.length, 1, `no alert reached the receiver:\n${server.log}`);
    await sleep(1500); // room for a wrong extra delivery (a retry would follow a refusal)
    assert.equal(received.length, 1, 'the alert is delivered once');

    const [{ body, headers, verified }] = received;
    assert.deepEqual(verified, ['old', 'new'], 'one v1 signature per secret of the rotation, each verified by standardwebhooks');
    const event = new StandardWebhook(newSecret).verify(body, headers); // the verified payload, parsed
    assert.equal(event.type, 'alert.firing');
    assert.equal(event.data.rule, 'failed-jobs');
    assert.equal(event.data.count, 1);
    assert.equal(event.data.id, headers['webhook-id'], 'webhook-id is the alert id');
    assert.match(event.data.title, /LLM provider timed out/);
    assert.equal(event.data.job_link, `https://callbackd.example.com/jobs/${jobId}`);

    assert.throws(() => new StandardWebhook(newSecret).verify(body.replace('failed-jobs', 'other-rule'), headers), /signature/i, 'a tampered body is refused');
    assert.throws(() => new StandardWebhook(newSecret).verify(body, { ...headers, 'webhook-id': `${headers['webhook-id']}x` }), /signature/i, 'a changed id is refused');
    assert.throws(() => new StandardWebhook(`whsec_${randomBytes(32).toString('base64')}`).verify(body, headers), /signature/i, 'another secret is refused');

    // callbackd records the delivery as sent (once its worker has marked it).
    let page;
    for (const stop = Date.now() + 10_000; ; await sleep(100)) {
      const res = await fetch(`${server.baseUrl}/api/admin/alert-deliveries`, { headers: { Authorization: `Bearer ${token}` } });
      page = await res.json();
      assert.equal(res.status, 200, JSON.stringify(page));
      assert.equal(page.deliveries.length, 1, JSON.stringify(page));
      assert.equal(page.deliveries[0].channel, 'pager');
      if (page.deliveries[0].status === 'sent' || Date.now() > stop) break;
    }
    assert.equal(page.deliveries[0].status, 'sent', JSON.stringify(page));
  });
});

describe('OpenAPI 3', () => {
  const tools = join(import.meta.dirname, 'openapi', 'node_modules');

  test('openapi-typescript generates types that live responses type-check against', { timeout: 120_000 }, async () => {
    const doc = await (await fetch(`${baseUrl}/openapi.v3.json`)).text();
    assert.match(JSON.parse(doc).openapi, /^3\./);
    const dir = mkdtempSync(join(tmp, 'openapi-'));
    writeFileSync(join(dir, 'openapi.v3.json'), doc);
    execFileSync(process.execPath, [join(tools, 'openapi-typescript', 'bin', 'cli.js'), join(dir, 'openapi.v3.json'), '-o', join(dir, 'api.d.ts')], { stdio: 'pipe' });
    assert.match(readFileSync(join(dir, 'api.d.ts'), 'utf8'), /"\/api\/webhooks\/llm-callback"/);

    // Live traffic: a delivery, then the admin list and one callback over REST.
    const payload = { event: 'workflow.completed', job_id: randomUUID(), status: 'completed', workflow_name: 'w', result: { ok: true }, cost_data: { total_tokens: 3, cost_usd: 0.01, llm_calls: [] }, timestamp: '2025-12-20T10:30:00.123456+00:00Z' };
    const body = JSON.stringify(payload);
    const ingestRes = await fetch(`${baseUrl}/api/webhooks/llm-callback`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Webhook-Signature': 'sha256=' + createHmac('sha256', secret).update(body).digest('hex') },
      body,
    });
    const ingest = await ingestRes.text();
    assert.equal(ingestRes.status, 200, ingest);
    const auth = { Authorization: `Bearer ${token}` };
    const listRes = await fetch(`${baseUrl}/api/admin/llm-callbacks?page_size=5`, { headers: auth });
    const list = await listRes.text();
    assert.equal(listRes.status, 200, list);
    const id = JSON.parse(ingest).id;
    const oneRes = await fetch(`${baseUrl}/api/admin/llm-callbacks/${id}`, { headers: auth });
    const one = await oneRes.text();
    assert.equal(oneRes.status, 200, one);
    const infoRes = await fetch(`${baseUrl}/api/admin/server-info`, { headers: auth });
    const info = await infoRes.text();
    assert.equal(infoRes.status, 200, info);
    const errRes = await fetch(`${baseUrl}/api/admin/llm-callbacks`, { headers: { Authorization: 'Bearer not-a-token-0123456789' } });
    const err = await errRes.text();
    assert.equal(errRes.status, 401, err);

    // Object literals: TypeScript refuses a property the generated type
    // lacks as well as a missing or mistyped one, so a response that drifts
    // from the document fails here. The @ts-expect-error lines prove that
    // the types are not any.
    writeFileSync(
      join(dir, 'check.ts'),
      `import type { paths, components } from './api';
type Op<P extends keyof paths, M extends keyof paths[P]> = paths[P][M];
type Json<R> = R extends { content: { 'application/json': infer J } } ? J : never;
type Ingest = Json<Op<'/api/webhooks/llm-callback', 'post'> extends { responses: { 200: infer R } } ? R : never>;
type Payload = Op<'/api/webhooks/llm-callback', 'post'> extends { requestBody: { content: { 'application/json': infer B } } } ? B : never;
type List = Json<Op<'/api/admin/llm-callbacks', 'get'> extends { responses: { 200: infer R } } ? R : never>;
type One = Json<Op<'/api/admin/llm-callbacks/{id}', 'get'> extends { responses: { 200: infer R } } ? R : never>;
type Info = Json<Op<'/api/admin/server-info', 'get'> extends { responses: { 200: infer R } } ? R : never>;
type ErrorBody = components['schemas']['Error'];
export const payload: Payload = ${body};
export const ingest: Ingest = ${ingest};
export const list: List = ${list};
export const one: One = ${one};
export const info: Info = ${info};
export const error: ErrorBody = ${err};
export const firstId: string | undefined = list.callbacks?.[0]?.id;
// @ts-expect-error a payload needs job_id
export const noJob: Payload = { event: 'workflow.completed' };
// @ts-expect-error callbacks is a list
export const wrongList: List = { callbacks: 1 };
`,
    );
    const tsc = join(tools, 'typescript', 'bin', 'tsc');
    try {
      execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--exactOptionalPropertyTypes', '--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', join(dir, 'check.ts')], { stdio: 'pipe' });
    } catch (e) {
      assert.fail(`the live responses do not type-check against the generated types:\n${e.stdout}${e.stderr}\n${readFileSync(join(dir, 'check.ts'), 'utf8')}`);
    }
  });
});
