// One campaign, live: state, waves with per-state counts, Update Results, failures; it polls every
// 2 s, so the page follows the campaign without a reload. Operators start, pause, resume, abort.
import { html } from 'htm/preact';
import { can, get, itemsOf, post } from './api.js';
import { Counts, Loading, Table, useAction, usePoll, when } from './ui.js';

/** The actions each state allows (the server decides; a refused one answers 409). */
const ACTIONS = { draft: ['start', 'abort'], scheduled: ['start', 'abort'], running: ['pause', 'abort'], paused: ['resume', 'abort'] };
const LIVE = new Set(['scheduled', 'running', 'paused']);
/** LwM2M Object 5 Update Result (/5/0/5) values. */
const RESULTS = ['initial', 'success', 'not enough flash', 'out of RAM', 'connection lost', 'integrity check failed', 'unsupported package type', 'invalid URI', 'update failed', 'unsupported protocol'];
const results = (byResult) => Object.fromEntries(Object.entries(byResult ?? {}).map(([code, n]) => [`${code} ${RESULTS[code] ?? ''}`.trim(), n]));

/** The campaign, and when some of its devices failed, which (from the latest 1000 campaign device events). */
async function loadCampaign(id) {
  const c = await get(`/api/v1/campaigns/${id}`);
  if (!c.counts?.failed) return { ...c, failures: [] };
  const events = itemsOf(await get('/api/v1/events', { kind: 'campaign.device', order: 'desc', limit: 1000 }));
  return { ...c, failures: events.filter((e) => e.data?.campaignId === id && e.data?.state === 'failed') };
}

export function Campaign({ id, me }) {
  const { data: c, error, reload } = usePoll(() => loadCampaign(id), 2000, [id]);
  const [act, busy] = useAction(async (action) => { await post(`/api/v1/campaigns/${id}/${action}`); await reload(); });
  if (!c) return html`<h1>Campaign ${id}</h1><${Loading} error=${error} />`;
  const actions = can(me.role, 'operator') ? ACTIONS[c.state] ?? [] : [];
  const failed = c.counts?.failed ?? 0;
  return html`<h1>Campaign ${c.id}: ${c.name}</h1>
    <p class="status">State <span class=${`badge ${c.state}`} id="campaign-state">${c.state}</span>
      ${LIVE.has(c.state) ? html` <span class="muted">(live)</span>` : ''}
      · image ${c.firmwareId} · ${c.currentWave ? `wave ${c.currentWave} of ${c.policy.waves.length}` : `${c.policy.waves.length} waves`} · created ${when(c.createdAt)} by ${c.createdBy}
      ${c.finishedAt ? ` · finished ${when(c.finishedAt)}` : ''}</p>
    ${c.pauseReason && html`<p class="error" id="pause-reason">Paused: ${c.pauseReason}</p>`}
    <div class="actions">${actions.map((a) => html`<button class=${`action ${a}`} id=${`campaign-${a}`} disabled=${busy} onClick=${() => act(a)}>${a}</button>`)}</div>
    <div class="grid">
      <section class="card"><h2>Devices by state</h2><${Counts} counts=${c.counts} id="campaign-counts" /></section>
      <section class="card"><h2>Update Results</h2><${Counts} counts=${results(c.byResult)} id="campaign-results" />
        <p class=${failed ? 'error' : 'muted'}>${failed} failed · ${c.retries ?? 0} retries · ${c.joinedLate ?? 0} joined late</p></section>
    </div>
    <section class="card"><h2>Waves</h2>
      <${Table} id="waves" rows=${c.waves ?? []} columns=${[['wave', (w) => w.wave], ['devices', (w) => w.devices], ['counts', (w) => html`<${Counts} counts=${w.counts} />`]]} /></section>
    ${c.failures.length > 0 && html`<section class="card"><h2>Failures</h2>
      <${Table} id="failures" rows=${c.failures} columns=${[['device', (e) => html`<a href=${`#/devices/${encodeURIComponent(e.endpoint)}`}>${e.endpoint}</a>`],
        ['Update Result', (e) => (e.data.resultCode == null ? '—' : `${e.data.resultCode} ${RESULTS[e.data.resultCode] ?? ''}`)], ['update', (e) => e.updateId ?? '—'], ['at', (e) => when(e.at)]]} /></section>`}
    <section class="card"><h2>Target and policy</h2><pre class="json">${JSON.stringify({ target: c.target, policy: c.policy }, null, 2)}</pre></section>`;
}
