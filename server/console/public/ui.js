// Pieces every page uses: a polled load, tables, times, sizes, forms.
import { html } from 'htm/preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/**
 * Loads `load()` now and again every `ms` (0: once) while the page shows, and whenever `deps`
 * change; { data, error, reload }. A failed poll keeps the last data.
 */
export function usePoll(load, ms, deps = []) {
  const [state, setState] = useState({ data: undefined, error: undefined });
  const live = useRef(true);
  const run = useCallback(async () => {
    try {
      const data = await load();
      if (live.current) setState({ data, error: undefined });
    } catch (error) {
      if (live.current) setState((s) => ({ data: s.data, error }));
    }
  }, deps);
  useEffect(() => {
    live.current = true;
    run();
    const timer = ms > 0 ? setInterval(run, ms) : undefined;
    return () => { live.current = false; clearInterval(timer); };
  }, [run, ms]);
  return { ...state, reload: run };
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
export const bytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
export const list = (text) => text.split(',').map((s) => s.trim()).filter(Boolean);

/** A table of `rows` by `columns`: [heading, row => cell]. */
export function Table({ columns, rows, empty = 'Nothing here.', id }) {
  if (!rows || rows.length === 0) return html`<p class="muted">${empty}</p>`;
  return html`<table id=${id}>
    <thead><tr>${columns.map(([h]) => html`<th>${h}</th>`)}</tr></thead>
    <tbody>${rows.map((r) => html`<tr>${columns.map(([, cell]) => html`<td>${cell(r)}</td>`)}</tr>`)}</tbody>
  </table>`;
}

/** "state: n" badges of a counts object. */
export function Counts({ counts, id }) {
  const entries = Object.entries(counts ?? {}).filter(([, n]) => n > 0);
  if (entries.length === 0) return html`<p class="muted">none</p>`;
  return html`<ul class="counts" id=${id}>${entries.map(([k, n]) => html`<li class=${`badge ${k}`} data-key=${k}>${k}: <b>${n}</b></li>`)}</ul>`;
}

export const Loading = ({ error }) => html`<p class="muted">${error ? `Could not load: ${error.message}` : 'Loading…'}</p>`;

/** A labelled form field. */
export const Field = ({ label, children }) => html`<label class="field"><span>${label}</span>${children}</label>`;

/** Runs `action` for a form's submit, showing "busy" meanwhile; errors go to the console's banner. */
export function useAction(action) {
  const [busy, setBusy] = useState(false);
  const run = async (...args) => {
    setBusy(true);
    try { return await action(...args); } catch { return undefined; } finally { setBusy(false); }
  };
  return [run, busy];
}
