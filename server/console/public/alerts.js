// Alerts: open ones first, or all; an operator acknowledges them.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { can, get, itemsOf, post } from './api.js';
import { Loading, Table, useAction, usePoll, when } from './ui.js';

export function Alerts({ me }) {
  const [all, setAll] = useState(false);
  const { data, error, reload } = usePoll(() => get('/api/v1/alerts', { ...(all ? {} : { acknowledged: false }), limit: 200 }), 3000, [all]);
  const [ack, busy] = useAction(async (id) => { await post(`/api/v1/alerts/${id}/ack`); await reload(); });
  const operator = can(me.role, 'operator');
  return html`<h1>Alerts</h1>
    <label class="inline"><input type="checkbox" checked=${all} onChange=${(e) => setAll(e.target.checked)} /> show acknowledged ones too</label>
    ${data ? html`<${Table} id="alerts" rows=${itemsOf(data)} empty=${all ? 'No alerts.' : 'No open alerts.'} columns=${[
      ['id', (a) => a.id], ['raised', (a) => when(a.at)], ['severity', (a) => html`<span class=${`badge ${a.severity}`}>${a.severity}</span>`],
      ['kind', (a) => a.kind], ['message', (a) => a.message],
      ['about', (a) => html`${a.campaignId ? html`<a href=${`#/campaigns/${a.campaignId}`}>campaign ${a.campaignId}</a> ` : ''}${a.endpoint ? html`<a href=${`#/devices/${encodeURIComponent(a.endpoint)}`}>${a.endpoint}</a>` : ''}`],
      ['acknowledged', (a) => (a.acknowledgedAt ? when(a.acknowledgedAt)
        : operator ? html`<button class="ack" data-id=${a.id} disabled=${busy} onClick=${() => ack(a.id)}>Acknowledge</button>` : 'no')],
    ]} />` : html`<${Loading} error=${error} />`}`;
}
