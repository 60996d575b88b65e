// Fleet overview: devices by hardware class × firmware version, status counts, registrations and
// updates over the last day, open alerts. Refreshes every 10 s.
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { allItems, get, itemsOf } from './api.js';
import { Counts, Loading, Table, usePoll, when } from './ui.js';

const PALETTE = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#dc2626', '#0891b2', '#65a30d', '#db2777'];
const HOUR = 3600;

/** A uPlot chart that follows `data` (remade when the series change). */
function Chart({ opts, data, id }) {
  const box = useRef(null);
  const plot = useRef(null);
  const shape = JSON.stringify(opts.series.map((s) => s.label));
  useEffect(() => {
    plot.current = new uPlot({ width: Math.max(320, box.current.clientWidth), height: 240, ...opts }, data, box.current);
    return () => plot.current.destroy();
  }, [shape]);
  useEffect(() => { plot.current?.setData(data); }, [data]);
  return html`<div class="chart" id=${id} ref=${box}></div>`;
}

/** Stacked bars: one bar per class, one band per version (uPlot draws the cumulative sums, tallest first). */
function byClassChart(groups) {
  const classes = [...new Set(groups.map((g) => g.hardwareClass ?? '(unknown)'))].sort();
  const versions = [...new Set(groups.map((g) => g.version ?? '(unknown)'))].sort();
  const count = (c, v) => groups.filter((g) => (g.hardwareClass ?? '(unknown)') === c && (g.version ?? '(unknown)') === v).reduce((a, g) => a + g.devices, 0);
  const stacked = [];
  let below = classes.map(() => 0);
  for (const v of versions) { below = classes.map((c, i) => below[i] + count(c, v)); stacked.push({ v, sums: below }); }
  const bars = uPlot.paths.bars({ size: [0.6, 80] });
  const series = stacked.reverse().map(({ v }, i) => ({ label: v, fill: PALETTE[(stacked.length - 1 - i) % PALETTE.length], stroke: '#0000', paths: bars, points: { show: false } }));
  return {
    classes, versions,
    opts: {
      scales: { x: { time: false, range: [-0.5, classes.length - 0.5] }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
      axes: [{ values: (_u, ticks) => ticks.map((t) => classes[t] ?? ''), splits: () => classes.map((_c, i) => i) }, {}],
      series: [{ label: 'class', value: (_u, i) => classes[i] ?? '' }, ...series],
      legend: { show: true },
    },
    data: [classes.map((_c, i) => i), ...stacked.map((s) => s.sums)],
  };
}

/** Events of `kind` per hour over the last day. */
function perHour(events, start) {
  const n = new Array(24).fill(0);
  for (const e of events) {
    const i = Math.floor((Date.parse(e.at) / 1000 - start) / HOUR);
    if (i >= 0 && i < 24) n[i] += 1;
  }
  return n;
}

async function loadOverview() {
  const start = Math.floor(Date.now() / 1000 / HOUR) * HOUR - 23 * HOUR;
  const since = new Date(start * 1000).toISOString();
  const [report, metrics, registrations, updates, alerts] = await Promise.all([
    get('/api/v1/compliance'),
    get('/metrics'),
    allItems('/api/v1/events', { kind: 'registration.created', since }, 5000),
    allItems('/api/v1/events', { kind: 'update.created', since }, 5000),
    get('/api/v1/alerts', { acknowledged: false, limit: 20 }),
  ]);
  const status = {};
  for (const m of String(metrics).matchAll(/^ferry_devices_by_status\{status="([^"]+)"\} (\d+)/gm)) status[m[1]] = Number(m[2]);
  return {
    report, status, alerts: itemsOf(alerts),
    timeline: [Array.from({ length: 24 }, (_x, i) => start + i * HOUR), perHour(registrations, start), perHour(updates, start)],
  };
}

const TIMELINE = {
  scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
  series: [{}, { label: 'registrations', stroke: PALETTE[0], width: 2 }, { label: 'updates started', stroke: PALETTE[2], width: 2 }],
};

export function Overview() {
  const { data, error } = usePoll(loadOverview, 10_000);
  if (!data) return html`<${Loading} error=${error} />`;
  const chart = byClassChart(data.report.groups ?? []);
  const total = Object.values(data.status).reduce((a, n) => a + n, 0);
  return html`<h1>Fleet overview</h1>
    <div class="grid">
      <section class="card"><h2>Devices: <span id="device-total">${total}</span></h2><${Counts} counts=${data.status} id="status-counts" /></section>
      <section class="card"><h2>Open alerts</h2>
        <${Table} id="open-alerts" rows=${data.alerts} empty="No open alerts." columns=${[
          ['severity', (a) => html`<span class=${`badge ${a.severity}`}>${a.severity}</span>`], ['message', (a) => a.message], ['raised', (a) => when(a.at)]]} />
        <a href="#/alerts">All alerts →</a></section>
    </div>
    <section class="card"><h2>Devices by hardware class × firmware version</h2>
      ${chart.classes.length === 0 ? html`<p class="muted">No devices yet.</p>` : html`<${Chart} id="class-chart" opts=${chart.opts} data=${chart.data} />`}</section>
    <section class="card"><h2>Registrations and updates, per hour (last 24 h)</h2><${Chart} id="timeline" opts=${TIMELINE} data=${data.timeline} /></section>`;
}
