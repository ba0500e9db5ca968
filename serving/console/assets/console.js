// The Braid console: a page per part of the platform, chosen by the location's hash.
import { html, render } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { credential, setCredential } from './api.js';
import { SourcesPage, ViewPage, ViewsPage, WorkflowPage, WorkflowsPage } from './pages.js';

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

function route(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'views' && parts[1]) return html`<${ViewPage} key=${parts[1]} name=${parts[1]} />`;
  if (parts[0] === 'sources') return html`<${SourcesPage} />`;
  if (parts[0] === 'workflows' && parts[1]) return html`<${WorkflowPage} key=${parts[1]} name=${parts[1]} runId=${parts[2] === 'runs' ? parts[3] : undefined} />`;
  if (parts[0] === 'workflows') return html`<${WorkflowsPage} />`;
  return html`<${ViewsPage} />`;
}

/** The API key or JWT the console sends, entered once and kept in this browser. */
function Credentials({ onChange }) {
  const [value, setValue] = useState(credential());
  const [editing, setEditing] = useState(false);
  const save = (event) => {
    event.preventDefault();
    setCredential(value.trim());
    setEditing(false);
    onChange();
  };
  if (!editing) {
    return html`<span class="credentials">${credential() ? 'signed in with a key' : 'anonymous'} <button class="small" data-testid="sign-in" onClick=${() => setEditing(true)}>${credential() ? 'change' : 'sign in'}</button></span>`;
  }
  return html`<form class="credentials" onSubmit=${save}>
    <input type="password" data-testid="credential" placeholder="API key or JWT" value=${value} onInput=${(e) => setValue(e.target.value)} autocomplete="off" />
    <button type="submit">Use</button>
    <button type="button" onClick=${() => { setValue(''); setCredential(''); setEditing(false); onChange(); }}>Sign out</button>
  </form>`;
}

function App() {
  const hash = useHash();
  const [generation, setGeneration] = useState(0);
  const section = hash.replace(/^#\/?/, '').split('/')[0] || 'views';
  return html`
    <header>
      <a class="brand" href="#/">Braid</a>
      <nav>
        <a href="#/" class=${section === 'views' ? 'active' : ''}>Views</a>
        <a href="#/sources" class=${section === 'sources' ? 'active' : ''}>Sources</a>
        <a href="#/workflows" class=${section === 'workflows' ? 'active' : ''}>Workflows</a>
        <a href="/graphql" target="_blank">GraphiQL</a>
      </nav>
      <${Credentials} onChange=${() => setGeneration((n) => n + 1)} />
    </header>
    <main key=${generation}>${route(hash)}</main>
  `;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
