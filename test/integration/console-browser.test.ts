import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBraidDev, waitFor, type BraidDev } from '../harness/index.ts';

/** Debian's Chromium (installed by .ci/run), or the browser BRAID_CHROMIUM names. */
const CHROMIUM = process.env.BRAID_CHROMIUM ?? '/usr/bin/chromium';
/** An API key whose role may read page_views only. */
const PAGE_VIEWS_KEY = 'console-test-key-page-views-only-0123456789';

interface PageProblems {
  readonly consoleErrors: string[];
  readonly failedRequests: string[];
  /** Requests for anything but the server itself: the console and GraphiQL must work offline. */
  readonly external: string[];
}

/** Opens a page that records its console errors, failed requests and any request leaving the server. */
async function openPage(browser: Browser, origin: string): Promise<{ page: Page; problems: PageProblems }> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  const problems: PageProblems = { consoleErrors: [], failedRequests: [], external: [] };
  page.on('console', (message) => {
    if (message.type() === 'error') problems.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => problems.consoleErrors.push(String(error)));
  // Requests the console cancels itself (leaving a page, a new range) are not failures.
  page.on('requestfailed', (request) => {
    if (request.failure()?.errorText !== 'net::ERR_ABORTED') problems.failedRequests.push(`${request.url()} ${request.failure()?.errorText}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) problems.failedRequests.push(`${response.status()} ${response.url()}`);
  });
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    const url = request.url();
    if (url.startsWith(origin) || url.startsWith('data:') || url.startsWith('blob:')) void request.continue();
    else {
      problems.external.push(url);
      void request.abort();
    }
  });
  return { page, problems };
}

const noProblems = (problems: PageProblems) => ({ consoleErrors: problems.consoleErrors, failedRequests: problems.failedRequests, external: problems.external });
const clean = { consoleErrors: [], failedRequests: [], external: [] };

describe('the web console in a real browser (headless Chromium)', () => {
  let origin = '';
  let browser: Browser;
  let dev: BraidDev | undefined;

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (Debian's chromium package; .ci/run installs it)`).toBe(true);
    dev = await startBraidDev({
      name: 'console',
      serving: ['auth:', '  roles:', "    admin: ['*']", '    pv: [page_views]', '  apiKeys:', `    - { name: pv, sha256: ${createHash('sha256').update(PAGE_VIEWS_KEY).digest('hex')}, roles: [pv] }`],
    });
    const stderr = dev.stderr();
    origin = /Console +(http:\/\/\S+?)\/ /.exec(stderr)?.[1] ?? '';
    expect(origin, stderr).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    expect(await dev?.stop(), dev?.stderr()).toBe(0);
  }, 60_000);

  it('lists every view with its batch version, cutoff and speed watermark; each page loads clean', async () => {
    const { page, problems } = await openPage(browser, origin);
    await page.goto(`${origin}/`, { waitUntil: 'networkidle0' });
    await page.waitForFunction(() => document.querySelectorAll('tr[data-view]').length === 3 && !document.querySelector('tr[data-view] td.muted'), { timeout: 30_000 });
    const rows = await page.$$eval('tr[data-view]', (trs) => trs.map((tr) => ({ view: tr.getAttribute('data-view'), text: tr.textContent ?? '' })));
    expect(rows.map((row) => row.view)).toEqual(['page_views', 'country_minutes', 'user_sessions']);
    for (const row of rows) {
      expect(row.text).toMatch(/clickstream/);
      expect(row.text).toMatch(/v\d+/); // batch version
      expect(row.text).toMatch(/lag/); // speed watermark lag
    }
    for (const hash of ['#/sources', '#/workflows', '#/workflows/recompute']) {
      await page.goto(`${origin}/${hash}`, { waitUntil: 'networkidle0' });
      await page.waitForSelector('h1', { timeout: 20_000 });
    }
    await page.waitForSelector('svg[data-testid=dag] g[data-task]', { timeout: 20_000 });
    await page.goto(`${origin}/#/sources`, { waitUntil: 'networkidle0' });
    await page.waitForFunction(() => document.querySelector('[data-testid=rate]')?.textContent?.match(/\d/), { timeout: 30_000 });
    expect(noProblems(problems)).toEqual(clean);
    await page.close();
  });

  it("a view's chart has points and moves as events arrive; its table equals the REST answer", async () => {
    const { page, problems } = await openPage(browser, origin);
    // A view's page keeps its subscription's stream open: the network is never idle.
    await page.goto(`${origin}/#/views/page_views`, { waitUntil: 'load' });
    await page.waitForFunction(() => Number(document.querySelector('.chart')?.getAttribute('data-points')) > 0, { timeout: 30_000 });
    const totalOf = () => page.$eval('.chart', (chart) => Number(chart.getAttribute('data-total')));
    const updatesOf = () => page.$eval('[data-testid=meta]', (meta) => Number(meta.getAttribute('data-updates')));
    const [before, updatesBefore] = [await totalOf(), await updatesOf()];
    expect(before).toBeGreaterThan(0);
    await waitFor(async () => (await totalOf()) > before && (await updatesOf()) > updatesBefore, { timeoutMs: 30_000, what: 'the chart to move after new events' });
    expect(await page.$('canvas')).not.toBeNull();

    // A settled range (windows past their lateness), so the table and a REST read see the same numbers.
    const minute = 60_000;
    const toMs = Math.floor(Date.now() / minute) * minute - 3 * minute;
    await page.click('button[data-range=custom]');
    await page.waitForSelector('[data-testid=from]');
    await page.type('[data-testid=from]', new Date(toMs - 10 * minute).toISOString());
    await page.keyboard.press('Tab');
    await page.type('[data-testid=to]', new Date(toMs).toISOString());
    await page.keyboard.press('Tab');
    await page.waitForFunction(() => document.querySelector('[data-testid=rest-link]')?.getAttribute('href')?.includes('to='), { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelectorAll('table[data-testid=rows] tbody tr').length > 0, { timeout: 30_000 });
    const restPath = await page.$eval('[data-testid=rest-link]', (a) => a.getAttribute('href')!);
    const table = await page.$$eval('table[data-testid=rows] tbody tr', (trs) =>
      trs.map((tr) => [tr.getAttribute('data-window'), ...[...tr.querySelectorAll('[data-value]')].map((cell) => JSON.parse(cell.getAttribute('data-value')!) as unknown)]),
    );
    const rest = (await (await fetch(`${origin}${restPath}`)).json()) as { rows: Array<Record<string, unknown>> };
    const expected = rest.rows
      .map((row) => [row.windowStart, row.url, row.views, row.visitors, row.revenue])
      .sort((a, b) => String(b[0]).localeCompare(String(a[0])) || String(a[1]).localeCompare(String(b[1])));
    const shown = table.sort((a, b) => String(b[0]).localeCompare(String(a[0])) || String(a[1]).localeCompare(String(b[1])));
    expect(shown.length).toBeGreaterThan(0);
    expect(shown).toEqual(expected);
    expect(noProblems(problems)).toEqual(clean);
    await page.close();
  });

  it('GraphiQL renders offline and runs a query', async () => {
    const { page, problems } = await openPage(browser, origin);
    await page.goto(`${origin}/graphql`, { waitUntil: 'networkidle0', timeout: 60_000 });
    const run = await page.waitForSelector('.graphiql-execute-button', { timeout: 60_000 });
    const answered = () => page.evaluate(() => /"rows"/.test(document.querySelector('.graphiql-response')?.textContent ?? ''));
    // The button shows before its editor is ready on a busy machine: press it until the query has run.
    await waitFor(
      async () => {
        if (await answered()) return true;
        await run!.click();
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        return answered();
      },
      { timeoutMs: 60_000, intervalMs: 100, what: "GraphiQL's answer" },
    );
    // The editor shows the answer's first lines only (the rest is scrolled away).
    const response = await page.$eval('.graphiql-response', (element) => element.textContent ?? '');
    expect(response).toMatch(/"windowStart"/);
    expect(response).not.toMatch(/"errors"/);
    expect(noProblems(problems)).toEqual(clean);
    await page.close();
  });

  it('a role sees only its views', async () => {
    const { page, problems } = await openPage(browser, origin);
    await page.goto(`${origin}/`, { waitUntil: 'networkidle0' });
    await page.click('[data-testid=sign-in]');
    await page.type('[data-testid=credential]', PAGE_VIEWS_KEY);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('tr[data-view]').length === 1, { timeout: 20_000 });
    expect(await page.$$eval('tr[data-view]', (trs) => trs.map((tr) => tr.getAttribute('data-view')))).toEqual(['page_views']);
    await page.goto(`${origin}/#/views/country_minutes`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('.error', { timeout: 20_000 });
    expect(await page.$eval('.error', (element) => element.textContent)).toMatch(/NOT_FOUND.*country_minutes/);
    expect(await page.$('.chart')).toBeNull();
    await page.goto(`${origin}/#/sources`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('section[data-source]', { timeout: 20_000 });
    expect(await page.$eval('section[data-source]', (section) => section.textContent)).not.toMatch(/country_minutes/);
    expect(noProblems(problems)).toEqual(clean);
    await page.close();
  });
});
