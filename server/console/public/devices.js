// Devices: filtered by class, version and status, a page at a time (the API's ?after= cursor).
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get, itemsOf, nextOf } from './api.js';
import { Field, Loading, Table, usePoll, when } from './ui.js';

const STATUSES = ['', 'registered', 'expired', 'deregistered', 'provisioned'];
const PAGE = 50;

export function Devices() {
  const [filter, setFilter] = useState({ hardwareClass: '', firmwareVersion: '', status: '' });
  const [cursors, setCursors] = useState([0]); // the ?after= of each page seen, the current one last
  const after = cursors[cursors.length - 1];
  const { data, error } = usePoll(() => get('/api/v1/devices', { ...filter, limit: PAGE, after: after || undefined }), 5000, [JSON.stringify(filter), after]);
  const apply = (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData(e.target));
    setFilter({ hardwareClass: f.hardwareClass.trim(), firmwareVersion: f.firmwareVersion.trim(), status: f.status });
    setCursors([0]);
  };
  const next = data ? nextOf(data) : null;
  return html`<h1>Devices</h1>
    <form class="filters" onSubmit=${apply}>
      <${Field} label="hardware class"><input name="hardwareClass" value=${filter.hardwareClass} /></${Field}>
      <${Field} label="firmware version"><input name="firmwareVersion" value=${filter.firmwareVersion} /></${Field}>
      <${Field} label="status"><select name="status">${STATUSES.map((s) => html`<option value=${s} selected=${s === filter.status}>${s || 'any'}</option>`)}</select></${Field}>
      <button type="submit">Filter</button>
    </form>
    ${data ? html`<${Table} id="devices" rows=${itemsOf(data)} empty="No devices match." columns=${[
      ['endpoint', (d) => html`<a href=${`#/devices/${encodeURIComponent(d.endpoint)}`}>${d.endpoint}</a>`],
      ['status', (d) => html`<span class=${`badge ${d.status}`}>${d.status}</span>`], ['class', (d) => d.hardwareClass ?? '—'],
      ['firmware', (d) => d.firmwareVersion ?? '—'], ['last seen', (d) => when(d.lastSeen)],
    ]} />` : html`<${Loading} error=${error} />`}
    <div class="pager">
      <button disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>← Previous</button>
      <span>page ${cursors.length}</span>
      <button disabled=${!next} onClick=${() => setCursors([...cursors, next])}>Next →</button>
    </div>`;
}
