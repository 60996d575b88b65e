// One device: identity, registered objects, current and past updates with their state history,
// its events, and (operators) Read and Observe of a resource. Refreshes every 3 s.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { can, del, get, post } from './api.js';
import { Field, Loading, Table, useAction, usePoll, when } from './ui.js';

const IDENTITY = [
  ['endpoint', 'endpoint'], ['status', 'status'], ['hardware class', 'hardwareClass'], ['firmware', 'firmwareVersion'],
  ['manufacturer', 'manufacturer'], ['model', 'modelNumber'], ['hardware version', 'hardwareVersion'], ['LwM2M', 'lwm2mVersion'],
  ['binding', 'binding'], ['queue mode', 'queueMode'], ['lifetime (s)', 'lifetime'], ['address', 'address'], ['port', 'port'],
  ['registered', 'registeredAt', when], ['last seen', 'lastSeen', when], ['expires', 'expiresAt', when],
];
const PAST_UPDATES = 10;

async function loadDevice(endpoint) {
  const device = await get(`/api/v1/devices/${encodeURIComponent(endpoint)}`);
  // Its updates, newest first, from the update ids its events name (the active one included).
  const ids = [...new Set([device.activeUpdate?.id, ...device.events.map((e) => e.updateId).reverse()].filter(Boolean))].slice(0, PAST_UPDATES);
  const updates = await Promise.all(ids.map((id) => get(`/api/v1/updates/${id}`)));
  return { device, updates };
}

const show = (v) => (v === null || v === undefined || v === '' ? '—' : String(v));
const json = (v) => html`<pre class="json">${JSON.stringify(v, null, 2)}</pre>`;
/** What a device answered: its resources as a table when they come as a list of { path, value }. */
const values = (v) => (Array.isArray(v?.values)
  ? html`<${Table} id="lwm2m-values" rows=${v.values} columns=${[['path', (r) => r.path], ['value', (r) => html`<code>${typeof r.value === 'object' ? JSON.stringify(r.value) : String(r.value)}</code>`]]} />`
  : json(v));

function Update({ u, open }) {
  return html`<details class="update" open=${open}>
    <summary>update ${u.id}: image ${u.firmwareId}, <span class=${`badge ${u.state}`}>${u.state}</span>
      ${u.campaignId ? html` · <a href=${`#/campaigns/${u.campaignId}`}>campaign ${u.campaignId}</a>` : ''} · ${when(u.createdAt)}
      ${u.reason ? ` · ${u.reason}` : ''}</summary>
    <${Table} rows=${u.events} columns=${[['at', (e) => when(e.at)], ['kind', (e) => e.kind], ['by', (e) => e.actor],
      ['state', (e) => e.data?.state ?? ''], ['data', (e) => html`<code>${JSON.stringify(e.data)}</code>`]]} />
  </details>`;
}

function Resource({ endpoint }) {
  const base = `/api/v1/devices/${encodeURIComponent(endpoint)}`;
  const [path, setPath] = useState('3/0');
  const [answer, setAnswer] = useState(null);
  const [observed, setObserved] = useState(null);
  const clean = () => path.split('/').filter(Boolean).map(encodeURIComponent).join('/');
  const [read, busy] = useAction(async () => setAnswer(await get(`${base}/lwm2m/${clean()}`)));
  const [observe] = useAction(async () => { setAnswer(await post(`${base}/observe/${clean()}`)); setObserved(clean()); });
  const [stop] = useAction(async () => { await del(`${base}/observe/${observed}`); setObserved(null); });
  // Until the first notification the server has none to show (404): the poll waits quietly.
  const latest = usePoll(() => (observed ? get(`${base}/observe/${observed}`, {}, { quiet: true }).catch((e) => (e.status === 404 ? null : Promise.reject(e))) : Promise.resolve(null)),
    observed ? 2000 : 0, [observed]);
  return html`<section class="card"><h2>Read or observe a resource</h2>
    <form class="filters" onSubmit=${(e) => { e.preventDefault(); read(); }}>
      <${Field} label="path (object/instance/resource)"><input id="lwm2m-path" value=${path} onInput=${(e) => setPath(e.target.value)} pattern="[0-9]+(/[0-9]+)*" /></${Field}>
      <button type="submit" id="read" disabled=${busy}>Read</button>
      <button type="button" id="observe" onClick=${observe}>Observe</button>
      ${observed && html`<button type="button" id="stop-observe" onClick=${stop}>Stop observing /${observed}</button>`}
    </form>
    ${answer && values(answer)}
    ${observed && !latest.data && html`<p class="muted" id="observing">Observing /${observed}: waiting for the device's first notification…</p>`}
    ${observed && latest.data && html`<h3>Observed /${observed}: latest value at ${when(latest.data.at)} (${latest.data.notifications} notifications after the first answer)</h3>${values(latest.data)}`}
  </section>`;
}

export function Device({ endpoint, me }) {
  const { data, error } = usePoll(() => loadDevice(endpoint), 3000, [endpoint]);
  if (!data) return html`<h1>${endpoint}</h1><${Loading} error=${error} />`;
  const { device, updates } = data;
  return html`<h1>Device ${device.endpoint}</h1>
    <div class="grid">
      <section class="card"><h2>Identity</h2><dl class="identity" id="identity">
        ${IDENTITY.map(([label, key, f]) => html`<dt>${label}</dt><dd>${f ? f(device[key]) : show(device[key])}</dd>`)}</dl></section>
      ${device.objects && html`<section class="card"><h2>Registered objects</h2>
        ${Array.isArray(device.objects) ? html`<ul class="objects">${device.objects.map((o) => html`<li><code>${typeof o === 'object' ? JSON.stringify(o) : o}</code></li>`)}</ul>` : json(device.objects)}</section>`}
    </div>
    <section class="card"><h2>Updates</h2>
      ${updates.length === 0 ? html`<p class="muted">No updates yet.</p>` : updates.map((u, i) => html`<${Update} u=${u} open=${i === 0} />`)}</section>
    ${can(me.role, 'operator') && html`<${Resource} endpoint=${device.endpoint} />`}
    <section class="card"><h2>Events (latest 100)</h2>
      <${Table} rows=${[...device.events].reverse()} columns=${[['at', (e) => when(e.at)], ['kind', (e) => e.kind], ['by', (e) => e.actor],
        ['data', (e) => html`<code>${JSON.stringify(e.data)}</code>`]]} /></section>`;
}
