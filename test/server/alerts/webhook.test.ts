// The webhook delivery of the Alerts service against a local HTTP server, on every test database:
// retries with backoff, no retry on a 4xx, a per-attempt timeout and a maximum, and a delivery left
// pending by a shutdown that goes out at the next start.
import * as assert from 'uvu/assert';
import { Alerts } from '../../../server/alerts/alerts.ts';
import type { WebhookOptions } from '../../../server/alerts/delivery.ts';
import { retryAfterMs } from '../../../server/alerts/webhook.ts';
import { getAlert, type Alert } from '../../../server/store/alerts.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { eventually } from '../../helpers/ferry.ts';
import { recordingLogger } from '../../helpers/log.ts';
import { silentLogger } from '../../../server/log.ts';
import { startHook, type Hook } from '../../helpers/webhook.ts';

const BACKOFF = 60;

forEachDatabase('alert webhook', ({ suite, get }) => {
  let hook: Hook | undefined;
  let alerts: Alerts | undefined;
  suite.after.each(async () => {
    await alerts?.close();
    await hook?.close();
    alerts = hook = undefined;
  });

  let recorded = recordingLogger();
  /** The delays the delivery chose after each failed attempt, from its log lines. */
  const retryDelays = () => recorded.lines.filter((l) => l.msg === 'alert webhook attempt failed, retrying').map((l) => l['retryInMs']);
  const start = (o: Partial<WebhookOptions> = {}): Alerts => {
    recorded = recordingLogger();
    alerts = new Alerts({ db: get().db, log: recorded.log, webhook: { url: hook!.url, backoffMs: BACKOFF, timeoutMs: 300, ...o } });
    alerts.start();
    return alerts;
  };
  const raise = async (a: Alerts): Promise<Alert> =>
    (await a.raise({ kind: 'campaign.paused', campaignId: 7, message: 'campaign 7 paused: 3 of 10 failed', data: { failed: 3 } }))!;
  const settled = (id: number, ms = 5000) => eventually(async () => {
    const a = await getAlert(get().db, id);
    return a && (a.webhook === 'delivered' || a.webhook === 'failed') ? a : undefined;
  }, ms, `alert ${id} delivery to settle`);

  suite('500, 500, then 200: retried with doubling backoff, delivered once', async () => {
    hook = await startHook((n) => (n < 2 ? 500 : 200));
    const a = await raise(start());
    const done = await settled(a.id);
    assert.is(done.webhook, 'delivered');
    assert.is(done.attempts, 3);
    assert.is(done.lastError, null);
    assert.ok(done.deliveredAt instanceof Date);
    assert.is(hook.requests.length, 3);
    assert.equal(retryDelays(), [BACKOFF, 2 * BACKOFF], 'the backoff doubles after each failed attempt');
    assert.ok(new Set(hook.requests.map((r) => r.body)).size === 1, 'the same body each time');
    assert.equal(alerts!.counts(), { 'campaign.paused': 1, 'update.stalled': 0, 'update.integrity': 0, 'device.impersonation': 0, 'campaign.reverted': 0, 'compliance.vulnerable': 0 });
  });

  suite('a 400 is not retried; the answer is recorded', async () => {
    hook = await startHook(() => 400);
    const done = await settled((await raise(start())).id);
    assert.is(done.webhook, 'failed');
    assert.is(done.attempts, 1);
    assert.is(done.lastError, 'HTTP 400');
    await new Promise((r) => setTimeout(r, 3 * BACKOFF));
    assert.is(hook.requests.length, 1);
  });

  suite('408 and 429 are retried like a 5xx', async () => {
    hook = await startHook((n) => [408, 429, 204][n] ?? 500);
    const done = await settled((await raise(start())).id);
    assert.is(done.webhook, 'delivered');
    assert.is(hook.requests.length, 3);
  });

  suite('a 503 with Retry-After waits as long as asked', async () => {
    hook = await startHook((n) => (n === 0 ? { status: 503, headers: { 'retry-after': '1' } } : 200));
    const done = await settled((await raise(start())).id);
    assert.is(done.webhook, 'delivered');
    assert.is(hook.requests.length, 2);
    assert.equal(retryDelays(), [1000], 'waits the second asked for, not the 60 ms backoff');
    assert.is(retryAfterMs('Wed, 01 Dec 2027 10:00:05 GMT', Date.parse('Wed, 01 Dec 2027 10:00:00 GMT')), 5000);
    assert.is(retryAfterMs('soon'), undefined);
  });

  suite('a server that never answers: each attempt times out, given up after the maximum', async () => {
    hook = await startHook(() => 'hang');
    const done = await settled((await raise(start({ timeoutMs: 150, maxAttempts: 3, backoffMs: 20 }))).id);
    assert.is(done.webhook, 'failed');
    assert.is(done.attempts, 3);
    assert.is(done.lastError, 'no answer in 150 ms');
    assert.is(hook.requests.length, 3);
    assert.equal(retryDelays(), [20, 40], 'the backoff doubles after each attempt that timed out');
  });

  suite('connection refused is retried, then given up', async () => {
    hook = await startHook();
    const url = hook.url;
    await hook.close();
    hook = undefined;
    alerts = new Alerts({ db: get().db, log: silentLogger(), webhook: { url, backoffMs: 10, maxAttempts: 2 } });
    alerts.start();
    const done = await settled((await raise(alerts)).id);
    assert.is(done.webhook, 'failed');
    assert.is(done.attempts, 2);
    assert.is(done.lastError, 'ECONNREFUSED');
  });

  suite('never more than maxInFlight attempts at once', async () => {
    let open = 0;
    let most = 0;
    hook = await startHook(() => 'hang');
    const a = start({ maxInFlight: 2, timeoutMs: 200, maxAttempts: 1 });
    hook.answer = () => { open += 1; most = Math.max(most, open); setTimeout(() => { open -= 1; }, 150); return 'hang'; };
    const raised = await Promise.all(Array.from({ length: 5 }, () => raise(a)));
    for (const r of raised) await settled(r.id);
    assert.is(hook.requests.length, 5);
    assert.ok(most <= 2, `${most} at once`);
  });

  suite('shutdown mid-attempt leaves the delivery pending, uncounted; the next start delivers it', async () => {
    hook = await startHook(() => 'hang');
    const a = await raise(start({ timeoutMs: 5000 }));
    await eventually(() => (hook!.requests.length === 1 ? true : undefined), 3000, 'the first attempt');
    await alerts!.close();
    const left = (await getAlert(get().db, a.id))!;
    assert.is(left.webhook, 'pending');
    assert.is(left.attempts, 0);
    hook.answer = () => 200;
    start();
    const done = await settled(a.id);
    assert.is(done.webhook, 'delivered');
    assert.is(done.attempts, 1);
    assert.is(hook.requests.length, 2);
    assert.is(hook.requests[1]!.body, hook.requests[0]!.body);
  });

  suite('without a webhook an alert is stored with webhook state none', async () => {
    alerts = new Alerts({ db: get().db, log: silentLogger() });
    alerts.start();
    const a = await raise(alerts);
    assert.is(a.webhook, 'none');
    assert.is(a.severity, 'critical');
    assert.equal(a.data, { failed: 3 });
  });
});
