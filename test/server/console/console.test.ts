// The web console in a real browser: Debian's chromium, driven headless by playwright-core,
// against a real Ferry server with 5 simulated devices. An operator signs in, sees the fleet,
// uploads a package, creates and starts a campaign in the form and watches it complete without a
// reload, reads a device's resource and acknowledges an alert; a viewer is offered none of the
// operator actions, and a forced one shows the server's 403. Screenshots go to test-output/console/
// (printed), with the bytes the first load transferred. Without chromium the suite is skipped, saying why.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Ferry } from '../../../server/main.ts';
import { insertAlert } from '../../../server/store/alerts.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { TEST_ADMIN_TOKEN, startTestFerry } from '../../helpers/ferry.ts';
import { backgroundFleet, inventoried } from '../../sim-e2e/campaign-kit.ts';
import { signedPackage, uploadPackage } from '../../sim-e2e/kit.ts';

const CHROMIUM = process.env['FERRY_CHROMIUM'] ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const SHOTS = resolve(fileURLToPath(import.meta.url), '../../../../test-output/console');
const DEVICES = 5;
const DEVICE = 'console-1';
const have = existsSync(CHROMIUM);
if (!have) console.log(`SKIPPED: the console's browser test needs chromium at ${CHROMIUM} (apt-get install chromium, or set FERRY_CHROMIUM)`);

/** A fresh tab (its own sessionStorage) that records what the page transfers and any CSP refusal. */
async function openTab(browser: Browser, base: string) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const transfers: Array<Promise<{ url: string; bytes: number }>> = [];
  const problems: string[] = [];
  const urls: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  page.on('response', (r) => transfers.push(r.request().sizes().then((s) => ({ url: r.url(), bytes: s.responseHeadersSize + s.responseBodySize }))));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of (401|403|404|409)/.test(m.text())) problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${base}/`);
  return { page, transfers, problems, urls, close: () => context.close() };
}

async function signIn(page: Page, token: string, role: string): Promise<void> {
  await page.fill('#signin input[name=token]', token);
  await page.click('#signin button[type=submit]');
  await page.locator('#who').filter({ hasText: role }).waitFor();
}

async function shoot(page: Page, name: string, shots: string[]): Promise<void> {
  const file = join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push(file);
}

/** In-page navigation (a hash change: the page is not reloaded). The test's code has no DOM types: globalThis is the window. */
const go = (page: Page, hash: string) => page.evaluate((h) => { (globalThis as unknown as { location: { hash: string } }).location.hash = h; }, hash);

forEachDatabase('the web console in chromium', ({ suite, get }) => {
  let ferry: Ferry;
  let browser: Browser;
  let fleet: ReturnType<typeof backgroundFleet> | undefined;
  suite.before.each(async () => {
    if (!have) return;
    ferry = await startTestFerry(get().db, { campaignTick: 100, updateTimeout: 20, requestTimeout: 5, releaseApproval: 'required' }, 500);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  });
  suite.after.each(async () => {
    if (!have) return;
    await fleet?.stop();
    await browser.close();
    await ferry.close();
  });

  (have ? suite : suite.skip)('an operator runs a campaign in the console; a viewer is refused the operator actions', async () => {
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });
    const shots: string[] = [];
    fleet = backgroundFleet(ferry.coapAddress!.port, { devices: DEVICES, prefix: 'console' });
    await inventoried(get().db, DEVICES);
    // The default release gate: the fleet is a testbed, so its campaigns take an image not approved yet.
    for (const d of (await ferry.api.inject({ url: '/api/v1/devices' })).json().items as Array<{ endpoint: string }>) {
      const marked = await ferry.api.inject({ method: 'PUT', url: `/api/v1/devices/${d.endpoint}/testbed`, payload: { testbed: true } });
      assert.is(marked.statusCode, 200, marked.body);
    }

    // First load: the page, its modules and libraries, and the overview's API calls.
    const op = await openTab(browser, ferry.apiUrl);
    await signIn(op.page, TEST_ADMIN_TOKEN, 'admin');
    await op.page.locator('#device-total').filter({ hasText: String(DEVICES) }).waitFor();
    await op.page.locator('#class-chart canvas').waitFor();
    const first = await Promise.all(op.transfers);
    const isStatic = (u: string) => !new URL(u).pathname.startsWith('/api/') && new URL(u).pathname !== '/metrics';
    const sum = (xs: Array<{ bytes: number }>) => xs.reduce((a, x) => a + x.bytes, 0);
    const statics = first.filter((t) => isStatic(t.url));
    console.log(`console first load: ${sum(first)} bytes transferred in ${first.length} responses (${sum(statics)} bytes in ${statics.length} files of the console and its libraries, the rest API answers)`);
    for (const t of statics) console.log(`  ${String(t.bytes).padStart(7)}  ${new URL(t.url).pathname}`);
    assert.ok(statics.some((t) => t.url.includes('/console/vendor/preact@')), 'preact came from the console\'s vendor files');
    // A bound that catches a library swapped for a heavy one, or files sent uncompressed (about 80 KB today).
    assert.ok(sum(statics) < 150_000, `the console's files weigh ${sum(statics)} bytes on first load`);
    await shoot(op.page, '1-overview', shots);

    // Devices: the list, then one device, and a Read of its /3/0.
    await go(op.page, '#/devices');
    await op.page.locator('#devices tbody tr').nth(DEVICES - 1).waitFor();
    assert.is(await op.page.locator('#devices tbody tr').count(), DEVICES);
    await shoot(op.page, '2-devices', shots);
    await op.page.locator(`#devices tbody a`).filter({ hasText: DEVICE }).click();
    await op.page.locator('#identity').waitFor();
    await op.page.click('#read');
    await op.page.locator('#lwm2m-values tr').filter({ hasText: '/3/0/1' }).filter({ hasText: 'sim-1' }).waitFor();
    await op.page.click('#observe');
    await op.page.locator('#stop-observe').waitFor();
    await shoot(op.page, '3-device', shots);
    await op.page.click('#stop-observe');
    await op.page.locator('#stop-observe').waitFor({ state: 'detached' });

    // Firmware: upload a signed package through the form.
    await go(op.page, '#/firmware');
    await op.page.setInputFiles('#upload input[name=package]', { name: 'fw-2.0.0.fry', mimeType: 'application/octet-stream', buffer: signedPackage('2.0.0', 8 * 1024, 1, 7) });
    await op.page.click('#upload button[type=submit]');
    await op.page.locator('#uploaded').filter({ hasText: '2.0.0' }).waitFor();
    await op.page.locator('#firmware tbody tr').filter({ hasText: '2.0.0' }).waitFor();
    await shoot(op.page, '4-firmware', shots);

    // Campaigns: created in the form, started, followed to completed by polling, no reload.
    await go(op.page, '#/campaigns');
    const form = op.page.locator('#new-campaign');
    await form.locator('select[name=firmwareId] option').first().waitFor({ state: 'attached' });
    await form.locator('input[name=name]').fill('console rollout to 2.0.0');
    await form.locator('input[name=testbed]').check();
    await form.locator('input[name=hardwareClass]').fill('sim-1');
    await form.locator('input[name=waves]').fill('40%, 100%');
    await form.locator('input[name=failureThreshold]').fill('50');
    await form.locator('button[type=submit]').click();
    await op.page.locator('#campaign-state').filter({ hasText: 'draft' }).waitFor();
    await op.page.evaluate(() => { (globalThis as unknown as { sameDocument: boolean }).sameDocument = true; });
    await op.page.click('#campaign-start');
    await op.page.locator('#campaign-state').filter({ hasText: /running|completed/ }).waitFor();
    await op.page.locator('#campaign-state').filter({ hasText: 'completed' }).waitFor({ timeout: 90_000 });
    await op.page.locator('#campaign-counts [data-key=succeeded]').filter({ hasText: String(DEVICES) }).waitFor();
    await op.page.locator('#campaign-results li').filter({ hasText: `1 success: ${DEVICES}` }).waitFor();
    assert.ok(await op.page.evaluate(() => (globalThis as unknown as { sameDocument?: boolean }).sameDocument), 'the page followed the campaign without a reload');
    await shoot(op.page, '5-campaign', shots);
    // The device's page now shows the update and its state history.
    await go(op.page, `#/devices/${DEVICE}`);
    await op.page.locator('details.update summary').filter({ hasText: 'succeeded' }).waitFor();
    for (const state of ['downloading', 'updating', 'succeeded']) await op.page.locator('details.update td').filter({ hasText: state }).first().waitFor();
    await shoot(op.page, '6-device-updated', shots);

    // Pause, resume and abort: a campaign that soaks an hour after its first device stays running.
    const next = await uploadPackage(ferry, signedPackage('3.0.0', 4 * 1024, 2, 9));
    await go(op.page, '#/campaigns');
    await form.locator(`select[name=firmwareId] option[value="${next}"]`).waitFor({ state: 'attached' });
    await form.locator('select[name=firmwareId]').selectOption(String(next));
    await form.locator('input[name=name]').fill('slow rollout to 3.0.0');
    await form.locator('input[name=testbed]').check();
    await form.locator('input[name=hardwareClass]').fill('sim-1');
    await form.locator('input[name=waves]').fill('1, 100%');
    await form.locator('input[name=soakSeconds]').fill('3600');
    await form.locator('button[type=submit]').click();
    await op.page.locator('h1').filter({ hasText: 'slow rollout' }).waitFor();
    for (const [action, state] of [['start', 'running'], ['pause', 'paused'], ['resume', 'running'], ['abort', 'aborted']] as const) {
      await op.page.click(`#campaign-${action}`);
      await op.page.locator('#campaign-state').filter({ hasText: state }).waitFor();
    }
    assert.is(await op.page.locator('.actions button').count(), 0, 'an aborted campaign offers no action');

    // Releases: an operator revokes the 3.0.0 image from the firmware page, giving a reason.
    await go(op.page, '#/firmware');
    const row = op.page.locator('#firmware tbody tr').filter({ hasText: '3.0.0' });
    assert.is(await row.locator('button.approve').count(), 0, 'approving is an approver token\'s');
    op.page.once('dialog', (d) => { void d.accept('bad batch'); });
    await row.locator('button.revoke').click();
    await row.locator('.badge.revoked').waitFor();
    const revoked = await ferry.api.inject({ url: `/api/v1/firmware/${next}` });
    assert.is(revoked.json().state, 'revoked');

    // Alerts: one raised, acknowledged in the list.
    const alert = await insertAlert(get().db, {
      kind: 'update.stalled', severity: 'warning', campaignId: null, deviceId: null, updateId: null, message: 'an update made no progress', data: {}, webhook: 'none',
    });
    await go(op.page, '#/alerts');
    await op.page.locator(`#alerts button.ack[data-id="${alert.id}"]`).click();
    await op.page.getByText('No open alerts.').waitFor();
    const acked = await ferry.api.inject({ url: '/api/v1/alerts?acknowledged=true' });
    assert.ok((acked.json().items as Array<{ id: number }>).some((a) => a.id === alert.id), 'the alert is acknowledged on the server');
    await op.page.click('label.inline input');
    await op.page.locator('#alerts tbody tr').first().waitFor();
    await shoot(op.page, '7-alerts', shots);
    assert.equal(op.problems, [], 'no script errors and no Content-Security-Policy refusals');
    assert.ok(op.urls.every((u) => !u.includes(TEST_ADMIN_TOKEN)), 'the token is in no URL');
    await op.close();

    // A viewer: the operator actions are not offered, and a forced one shows the 403.
    const created = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name: 'watcher', role: 'viewer' } });
    assert.is(created.statusCode, 201);
    const viewer = await openTab(browser, ferry.apiUrl);
    await signIn(viewer.page, (created.json() as { token: string }).token, 'viewer');
    await viewer.page.locator('#device-total').filter({ hasText: String(DEVICES) }).waitFor();
    await go(viewer.page, '#/campaigns');
    await viewer.page.locator('#campaigns tbody tr').first().waitFor();
    assert.is(await viewer.page.locator('#new-campaign').count(), 0, 'no campaign form for a viewer');
    await viewer.page.locator('#campaigns tbody a').first().click();
    await viewer.page.locator('#campaign-state').waitFor();
    assert.is(await viewer.page.locator('.actions button').count(), 0, 'no campaign actions for a viewer');
    await go(viewer.page, '#/firmware');
    await viewer.page.locator('#firmware').waitFor();
    assert.is(await viewer.page.locator('#upload').count(), 0, 'no upload for a viewer');
    assert.is(await viewer.page.locator('#firmware button').count(), 0, 'no release step for a viewer');
    const second = await insertAlert(get().db, {
      kind: 'update.stalled', severity: 'warning', campaignId: null, deviceId: null, updateId: null, message: 'another stalled update', data: {}, webhook: 'none',
    });
    await go(viewer.page, '#/alerts');
    await viewer.page.locator('#alerts tbody tr').first().waitFor();
    assert.is(await viewer.page.locator('#alerts button.ack').count(), 0, 'no Acknowledge for a viewer');
    await viewer.page.evaluate(async (id) => {
      const api = await import('/console/api.js' as string) as { post: (p: string) => Promise<unknown> };
      await api.post(`/api/v1/alerts/${id}/ack`).catch(() => undefined);
    }, second.id);
    await viewer.page.locator('#banner').filter({ hasText: 'needs the operator role' }).waitFor();
    assert.match(await viewer.page.locator('#banner').innerText(), /403 FERRY_FORBIDDEN/);
    await shoot(viewer.page, '8-viewer-refused', shots);
    assert.equal(viewer.problems, []);
    await viewer.close();

    console.log(`console screenshots in ${SHOTS}:\n${shots.map((s) => `  ${s}`).join('\n')}`);
  });
}, { only: 'pglite' });
