// Firmware: upload a signed package (operators), and the releases with their state, signer and use.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { can, get, itemsOf, post, qs, request } from './api.js';
import { Field, Loading, Table, bytes, useAction, usePoll, when } from './ui.js';

async function loadFirmware() {
  const [images, campaigns, report] = await Promise.all([get('/api/v1/firmware'), get('/api/v1/campaigns'), get('/api/v1/compliance')]);
  const running = (f) => (report.groups ?? []).filter((g) => g.hardwareClass === f.hardwareClass && g.version === f.version).reduce((a, g) => a + g.devices, 0);
  const usedBy = (f) => itemsOf(campaigns).filter((c) => c.firmwareId === f.id);
  return itemsOf(images).map((f) => ({ ...f, running: running(f), campaigns: usedBy(f) }));
}

function Upload({ onUploaded }) {
  const [done, setDone] = useState(null);
  const [upload, busy] = useAction(async (form) => {
    const f = new FormData(form);
    const file = f.get('package');
    const query = { version: f.get('version').trim(), hardwareClass: f.get('hardwareClass').trim() };
    const image = await request('POST', `/api/v1/firmware${qs(query)}`, file);
    setDone(image);
    form.reset();
    onUploaded();
  });
  return html`<section class="card"><h2>Upload a package</h2>
    <form class="filters" id="upload" onSubmit=${(e) => { e.preventDefault(); upload(e.target); }}>
      <${Field} label="signed package (FRY1)"><input type="file" name="package" required /></${Field}>
      <${Field} label="version (raw image only)"><input name="version" /></${Field}>
      <${Field} label="hardware class (raw image only)"><input name="hardwareClass" /></${Field}>
      <button type="submit" disabled=${busy}>${busy ? 'Uploading…' : 'Upload'}</button>
    </form>
    ${done && html`<p class="ok" id="uploaded">Uploaded image ${done.id}: ${done.hardwareClass} ${done.version} (${bytes(done.size)}), state ${done.state}.</p>`}
  </section>`;
}

/** The release steps this token may take on an image: approve (an approver's), deprecate and revoke (an operator's). */
function ReleaseActions({ f, me, onDone }) {
  const [act, busy] = useAction(async (step, needsReason) => {
    const reason = window.prompt(`${step} ${f.hardwareClass} ${f.version}: why?${needsReason ? '' : ' (optional)'}`);
    if (reason === null || (needsReason && reason.trim() === '')) return;
    await post(`/api/v1/firmware/${f.id}/${step}`, reason.trim() === '' ? {} : { reason: reason.trim() });
    onDone();
  });
  const steps = [
    me.role === 'approver' && (f.state === 'uploaded' || f.state === 'testing') && ['approve', false],
    can(me.role, 'operator') && f.state === 'approved' && ['deprecate', false],
    can(me.role, 'operator') && f.state !== 'revoked' && ['revoke', true],
  ].filter(Boolean);
  return html`${steps.map(([step, needsReason]) => html`<button class=${`small ${step}`} disabled=${busy} onClick=${() => act(step, needsReason)}>${step}</button> `)}`;
}

export function Firmware({ me }) {
  const { data, error, reload } = usePoll(loadFirmware, 5000);
  return html`<h1>Firmware</h1>
    ${can(me.role, 'operator') && html`<${Upload} onUploaded=${reload} />`}
    ${data ? html`<${Table} id="firmware" rows=${data} empty="No images uploaded." columns=${[
      ['id', (f) => f.id], ['class', (f) => f.hardwareClass], ['version', (f) => f.version], ['sequence', (f) => f.sequence ?? '—'],
      ['state', (f) => html`<span class=${`badge ${f.state}`}>${f.state}</span>`], ['size', (f) => bytes(f.size)],
      ['signer key', (f) => f.keyName ?? f.keyId ?? '—'], ['signed', (f) => (f.signedBy === 'server' ? 'by this server' : 'by the uploader')], ['uploaded', (f) => `${when(f.createdAt)} by ${f.uploadedByUser ?? '—'}`],
      ['devices on it', (f) => f.running],
      ['campaigns', (f) => f.campaigns.map((c) => html`<a href=${`#/campaigns/${c.id}`}>${c.name}</a> `)],
      ['sha-256', (f) => html`<code title=${f.sha256}>${f.sha256.slice(0, 12)}…</code>`],
      ['release', (f) => html`<${ReleaseActions} f=${f} me=${me} onDone=${reload} />`],
    ]} />` : html`<${Loading} error=${error} />`}`;
}
