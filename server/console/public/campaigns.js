// Campaigns: the list (refreshed every 2 s) and, for operators, a form to create one.
import { html } from 'htm/preact';
import { can, get, itemsOf, post } from './api.js';
import { Field, Loading, Table, list, useAction, usePoll, when } from './ui.js';

/** The API's campaign body from the form's fields. */
function campaignOf(f) {
  const target = {};
  if (f.hardwareClass.trim()) target.hardwareClass = f.hardwareClass.trim();
  if (list(f.tags).length) target.tags = list(f.tags);
  if (list(f.endpoints).length) target.endpoints = list(f.endpoints);
  const waves = list(f.waves).map((w) => (/^\d+$/.test(w) ? Number(w) : w));
  const policy = { waves };
  if (f.soakSeconds !== '') policy.soakSeconds = Number(f.soakSeconds);
  if (f.failureThreshold !== '') policy.failureThreshold = Number(f.failureThreshold) / 100;
  if (f.concurrency !== '') policy.concurrency = Number(f.concurrency);
  return { name: f.name.trim(), firmwareId: Number(f.firmwareId), target, policy, ...(f.testbed === 'on' ? { testbed: true } : {}) };
}

function CreateForm() {
  const images = usePoll(() => get('/api/v1/firmware'), 0);
  const [create, busy] = useAction(async (form) => {
    const c = await post('/api/v1/campaigns', campaignOf(Object.fromEntries(new FormData(form))));
    location.hash = `#/campaigns/${c.id}`;
  });
  const usable = itemsOf(images.data).filter((f) => f.state !== 'revoked' && f.state !== 'deprecated');
  return html`<section class="card"><h2>New campaign</h2>
    <form class="form" id="new-campaign" onSubmit=${(e) => { e.preventDefault(); create(e.target); }}>
      <${Field} label="name"><input name="name" required maxlength="200" /></${Field}>
      <${Field} label="firmware"><select name="firmwareId" required>
        ${usable.map((f) => html`<option value=${f.id}>${f.id}: ${f.hardwareClass} ${f.version} (${f.state})</option>`)}</select></${Field}>
      <${Field} label="target hardware class"><input name="hardwareClass" /></${Field}>
      <${Field} label="target tags (comma-separated)"><input name="tags" /></${Field}>
      <${Field} label="target endpoints (comma-separated)"><input name="endpoints" /></${Field}>
      <${Field} label="waves (cumulative: 10%, 50%, 100% or counts)"><input name="waves" required value="10%, 50%, 100%" /></${Field}>
      <${Field} label="soak between waves (s)"><input name="soakSeconds" type="number" min="0" value="0" /></${Field}>
      <${Field} label="failure threshold (%)"><input name="failureThreshold" type="number" min="0" max="100" step="any" value="5" /></${Field}>
      <${Field} label="concurrency"><input name="concurrency" type="number" min="1" value="10" /></${Field}>
      <${Field} label="testbed only (devices marked testbed; the image need not be approved yet)"><input name="testbed" type="checkbox" /></${Field}>
      <button type="submit" disabled=${busy}>Create</button>
    </form></section>`;
}

export function Campaigns({ me }) {
  const { data, error } = usePoll(() => get('/api/v1/campaigns'), 2000);
  return html`<h1>Campaigns</h1>
    ${can(me.role, 'operator') && html`<${CreateForm} />`}
    ${data ? html`<${Table} id="campaigns" rows=${itemsOf(data)} empty="No campaigns yet." columns=${[
      ['id', (c) => c.id], ['name', (c) => html`<a href=${`#/campaigns/${c.id}`}>${c.name}</a>`], ['image', (c) => c.firmwareId],
      ['state', (c) => html`<span class=${`badge ${c.state}`}>${c.state}</span>`], ['testbed', (c) => (c.testbed ? 'yes' : '')], ['wave', (c) => c.currentWave || '—'],
      ['created', (c) => `${when(c.createdAt)} by ${c.createdBy}`], ['finished', (c) => when(c.finishedAt)],
    ]} />` : html`<${Loading} error=${error} />`}`;
}
