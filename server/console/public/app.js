// The console's shell: sign-in, the role of the token, navigation by #/page, the error banner.
import { html, render } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get, onApiError, session } from './api.js';
import { Overview } from './overview.js';
import { Devices } from './devices.js';
import { Device } from './device.js';
import { Firmware } from './firmware.js';
import { Campaigns } from './campaigns.js';
import { Campaign } from './campaign.js';
import { Alerts } from './alerts.js';

const PAGES = [['overview', 'Overview'], ['devices', 'Devices'], ['firmware', 'Firmware'], ['campaigns', 'Campaigns'], ['alerts', 'Alerts']];

const route = () => location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);

function useRoute() {
  const [r, setR] = useState(route());
  useEffect(() => {
    const on = () => setR(route());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return r;
}

function SignIn({ onSignedIn }) {
  const [error, setError] = useState('');
  const submit = async (e) => {
    e.preventDefault();
    session.signIn(new FormData(e.target).get('token').trim());
    try { onSignedIn(await get('/api/v1/whoami')); } catch (err) { session.signOut(); setError(err.message); }
  };
  return html`<form class="signin" id="signin" onSubmit=${submit}>
    <h1>Ferry console</h1>
    <label class="field"><span>API token</span><input name="token" type="password" autocomplete="off" required placeholder="fry_…" /></label>
    <button type="submit">Sign in</button>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <p class="muted">The token stays in this tab (sessionStorage) and is sent only to this server.</p>
  </form>`;
}

function Page({ r, me }) {
  const [page, arg] = r;
  if (page === 'devices' && arg) return html`<${Device} endpoint=${arg} me=${me} />`;
  if (page === 'devices') return html`<${Devices} me=${me} />`;
  if (page === 'firmware') return html`<${Firmware} me=${me} />`;
  if (page === 'campaigns' && arg) return html`<${Campaign} id=${Number(arg)} me=${me} />`;
  if (page === 'campaigns') return html`<${Campaigns} me=${me} />`;
  if (page === 'alerts') return html`<${Alerts} me=${me} />`;
  return html`<${Overview} me=${me} />`;
}

function App() {
  const [me, setMe] = useState(undefined);
  const [checked, setChecked] = useState(session.token() === null);
  const [banner, setBanner] = useState(null);
  const r = useRoute();
  useEffect(() => onApiError((err) => {
    if (err.status === 401) { session.signOut(); setMe(undefined); }
    setBanner(err);
  }), []);
  useEffect(() => {
    if (session.token() === null) return;
    get('/api/v1/whoami').then(setMe, () => session.signOut()).finally(() => setChecked(true));
  }, []);
  useEffect(() => setBanner(null), [r.join('/')]);
  if (!checked) return html`<p class="muted">Signing in…</p>`;
  if (!me) return html`<${SignIn} onSignedIn=${(m) => { setBanner(null); setMe(m); }} />`;
  const signOut = () => { session.signOut(); setMe(undefined); };
  return html`<header>
      <strong>Ferry</strong>
      <nav>${PAGES.map(([p, label]) => html`<a href=${`#/${p}`} class=${(r[0] || 'overview') === p ? 'active' : ''}>${label}</a>`)}</nav>
      <span class="who" id="who">${me.user} · token ${me.name} · <b>${me.role}</b></span>
      <button class="link" onClick=${signOut}>Sign out</button>
    </header>
    ${banner && html`<div class="error banner" role="alert" id="banner">
      <span>${banner.status} ${banner.code}: ${banner.message}</span><button class="link" onClick=${() => setBanner(null)}>dismiss</button></div>`}
    <section class="page"><${Page} r=${r} me=${me} /></section>`;
}

const root = document.getElementById('app');
root.replaceChildren(); // the "Loading" placeholder
render(html`<${App} />`, root);
