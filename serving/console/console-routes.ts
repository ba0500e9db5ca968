import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';

/** A file the console serves, read once at start-up. */
interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const require = createRequire(import.meta.url);

/**
 * The libraries the console's pages import, by the URL its import map gives them: each file comes from the
 * npm package in package.json, served as published (no CDN, no build step).
 */
const VENDOR: Record<string, string> = {
  'preact.mjs': 'preact/dist/preact.mjs',
  'preact-hooks.mjs': 'preact/hooks/dist/hooks.mjs',
  'htm.mjs': 'htm/dist/htm.mjs',
  'htm-preact.mjs': 'htm/preact/index.mjs',
  'uplot.mjs': 'uplot/dist/uPlot.esm.js',
  'uplot.css': 'uplot/dist/uPlot.min.css',
};

/** The console's own files (next to this module). */
const OWN = ['index.html', 'console.js', 'console.css', 'pages.js', 'chart.js', 'api.js', 'favicon.svg'];

/** A file of an installed package (found as Node finds packages, whatever the package's `exports` allow). */
function packageFile(file: string): string {
  const [scopeOrName, ...rest] = file.split('/');
  const name = scopeOrName!.startsWith('@') ? `${scopeOrName}/${rest.shift()}` : scopeOrName!;
  const root = (require.resolve.paths(name) ?? []).map((folder) => path.join(folder, name)).find((folder) => existsSync(path.join(folder, 'package.json')));
  if (!root) throw new Error(`the console needs the npm package ${name}: run npm ci`);
  return path.join(root, ...rest);
}

function typeOf(file: string): string {
  return TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream';
}

function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const file of OWN) {
    assets.set(`/console/${file}`, { body: readFileSync(fileURLToPath(new URL(`./assets/${file}`, import.meta.url))), type: typeOf(file) });
  }
  for (const [name, module] of Object.entries(VENDOR)) {
    assets.set(`/console/vendor/${name}`, { body: readFileSync(packageFile(module)), type: typeOf(name) });
  }
  return assets;
}

/**
 * The web console: `/` is its page, `/console/…` its scripts, styles and the libraries they import. The page is
 * static; what it shows comes from the API (`/v1/…`, `/graphql`) with the credentials entered on it.
 */
export function consoleRoutes(): Hono {
  const assets = loadAssets();
  const index = assets.get('/console/index.html')!;
  const routes = new Hono();
  const send = (asset: Asset) => new Response(new Uint8Array(asset.body), { headers: { 'content-type': asset.type, 'cache-control': 'no-cache' } });
  routes.get('/', () => send(index));
  routes.get('/console/*', (c) => {
    const asset = assets.get(c.req.path);
    return asset ? send(asset) : c.notFound();
  });
  return routes;
}
