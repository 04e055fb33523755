import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Debian's Chromium, never a downloaded one: CI installs it with apt (see .ci/run).
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`GraphiQL browser test skipped: ${CHROMIUM} not found (apt-get install chromium)`);
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCREENSHOT = path.join(ROOT, 'test/artifacts/graphiql.png');
const BOOT_TIMEOUT = 60_000;
const STOP_TIMEOUT = 15_000;
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

type DemoAccount = Readonly<{
  organizationSlug: string;
  email: string;
  role: string;
  token: string;
}>;

type Server = Readonly<{
  child: ChildProcess;
  /** The GraphQL URL from the ready line. */
  ready: Promise<string>;
  /** Filled from the log lines printed before the ready one. */
  demo: DemoAccount[];
  /** Every stdout/stderr line, for the failure messages. */
  output: string[];
}>;

/**
 * `npm start` in its own process group (npm, sh, tsx and the node it spawns), so the whole
 * tree can be signalled and checked for stragglers at once.
 */
function startServer(dataDir: string): Server {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    DATA_DIR: dataDir,
    // vitest sets NODE_ENV=test, under which the app logs nothing (no ready line to wait for).
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
  };
  // Whatever the outer shell points at must not reach the app: embedded database, own secret.
  for (const name of [
    'DATABASE_URL',
    'JWT_SECRET',
    'JWKS_URL',
    'SEED_DEMO',
    'GRAPHQL_INTROSPECTION',
  ]) {
    delete env[name];
  }
  const child = spawn('npm', ['run', 'start', '--silent'], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const demo: DemoAccount[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    output.push(line);
  });
  const ready = new Promise<string>((resolve, reject) => {
    const fail = (why: string) =>
      reject(new Error(`${why}; server output:\n${output.slice(-40).join('\n')}`));
    const timer = setTimeout(() => fail(`not ready within ${BOOT_TIMEOUT} ms`), BOOT_TIMEOUT);
    child.once('error', (error) => fail(`could not spawn npm: ${error.message}`));
    child.once('exit', (code, signal) => fail(`exited before ready (${signal ?? code})`));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      output.push(line);
      const entry = parseLogLine(line);
      // JSON output (stdout is a pipe here): one line per demo account (src/db/demo-log.ts).
      if (entry?.msg === 'demo account' && typeof entry.token === 'string') {
        demo.push(entry as unknown as DemoAccount);
      }
      if (entry?.msg === 'scopegraph is ready' && typeof entry.url === 'string') {
        clearTimeout(timer);
        resolve(entry.url);
      }
    });
  });
  return { child, ready, demo, output };
}

function parseLogLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitForGroupExit(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (groupAlive(pgid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

/** SIGTERM to the whole tree; SIGKILL for anything that ignores it. True if it stopped cleanly. */
async function stopServer(pgid: number): Promise<boolean> {
  if (!groupAlive(pgid)) return true;
  process.kill(-pgid, 'SIGTERM');
  if (await waitForGroupExit(pgid, STOP_TIMEOUT)) return true;
  process.kill(-pgid, 'SIGKILL');
  await waitForGroupExit(pgid, 5_000);
  return false;
}

describe.skipIf(!hasChromium)('GraphiQL in a real browser (npm start)', () => {
  // Made in beforeAll: the describe body also runs when the suite is skipped.
  let dataDir: string | undefined;
  let profileDir: string | undefined;
  let server: Server | undefined;
  let context: BrowserContext | undefined;
  let pgid: number | undefined;
  let url = '';
  // If the worker dies without running afterAll (crash, process.exit), take the server with it.
  const killOnExit = () => {
    if (pgid !== undefined && groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
  };

  beforeAll(async () => {
    process.once('exit', killOnExit);
    dataDir = mkdtempSync(path.join(tmpdir(), 'scopegraph-browser-data-'));
    profileDir = mkdtempSync(path.join(tmpdir(), 'scopegraph-browser-profile-'));
    server = startServer(dataDir);
    // Set before waiting, so that a server that never gets ready is still stopped in afterAll.
    pgid = server.child.pid;
    url = await server.ready;
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
      viewport: { width: 1440, height: 900 },
    });
  }, BOOT_TIMEOUT + 30_000);

  afterAll(async () => {
    let clean = true;
    try {
      await context?.close();
    } finally {
      if (pgid !== undefined) clean = await stopServer(pgid);
      process.off('exit', killOnExit);
      for (const dir of [dataDir, profileDir]) {
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
    }
    if (!clean) {
      throw new Error(
        `server ignored SIGTERM for ${STOP_TIMEOUT} ms (killed); output:\n` +
          (server?.output.slice(-20).join('\n') ?? ''),
      );
    }
  }, STOP_TIMEOUT + 30_000);

  it('runs the prefilled Feed query, offline, as Acme', { timeout: 120_000 }, async () => {
    if (!server || !context) throw new Error('beforeAll did not finish');
    const page = context.pages()[0] ?? (await context.newPage());
    const requests: string[] = [];
    context.on('request', (request) => requests.push(request.url()));
    page.on('websocket', (socket) => requests.push(socket.url()));
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));

    // The page runs under its CSP (src/http/edge.ts): anything the CSP blocks is a console error.
    const blocked: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) blocked.push(message.text());
    });

    const navigation = await page.goto(url, { waitUntil: 'load' });
    expect(navigation?.headers()['content-security-policy']).toMatch(/default-src 'none'/);
    // GraphiQL 5 (Monaco): the query editor shows the prefilled operation once it has loaded.
    await page.locator('.graphiql-query-editor').getByText('query Feed').waitFor();

    const [response] = await Promise.all([
      page.waitForResponse(
        (candidate) =>
          candidate.request().method() === 'POST' &&
          new URL(candidate.url()).pathname === '/graphql' &&
          (candidate.request().postData() ?? '').includes('"operationName":"Feed"'),
      ),
      page.locator('.graphiql-execute-button').click(),
    ]);

    // The prefilled headers tab carries the first demo account's token (Acme's owner).
    const ada = server.demo[0];
    expect(ada?.email).toBeDefined();
    expect(response.request().headers().authorization).toBe(`Bearer ${ada?.token}`);
    const body = await response.text();
    expect(response.status()).toBe(200);
    expect(body).toContain('Ada Lovelace');
    expect(body).toContain('Acme Rockets');
    expect(body).not.toContain('Globex');
    expect(body).not.toContain('"errors"');

    // Monaco renders spaces as no-break spaces, so compare on normalised text.
    const resultPane = page.locator('.graphiql-response');
    await page.waitForFunction(
      () =>
        (document.querySelector('.graphiql-response')?.textContent ?? '')
          .replace(/\u00a0/g, ' ')
          .includes('"Ada Lovelace"'),
      undefined,
      { timeout: 30_000 },
    );
    const shown = ((await resultPane.textContent()) ?? '').replace(/\u00a0/g, ' ');
    expect(shown).toContain('"Acme Rockets"');
    expect(shown).not.toContain('Globex');

    expect(blocked).toEqual([]);

    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    const foreign = requests.filter((address) => {
      const { protocol, hostname } = new URL(address);
      if (protocol === 'data:' || protocol === 'blob:') return false;
      return !LOCAL_HOSTS.has(hostname);
    });
    expect(foreign).toEqual([]);
    expect(requests.length).toBeGreaterThan(1);
    expect(pageErrors).toEqual([]);
  });

  it('runs a subscription over the WebSocket and shows an event', {
    timeout: 120_000,
  }, async () => {
    if (!server || !context) throw new Error('beforeAll did not finish');
    const page = await context.newPage();
    const sockets: string[] = [];
    const refused: number[] = [];
    page.on('websocket', (socket) => sockets.push(socket.url()));
    page.on('response', (response) => {
      if (response.status() >= 400) refused.push(response.status());
    });
    await page.goto(url, { waitUntil: 'load' });
    // The tab GraphiQL kept from the test above (or the prefilled one): its text is replaced.
    await page.locator('.graphiql-query-editor .view-lines').first().waitFor();
    // Replace the editor's text in one input (typed key by key, Monaco would close brackets).
    await page.locator('.graphiql-query-editor .monaco-editor').first().click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.insertText('subscription Live { postCreated { title } }');
    await page.locator('.graphiql-query-editor').getByText('subscription Live').waitFor();
    await page.locator('.graphiql-execute-button').click();

    // A post by the demo token from the server's log; repeated until the stream, which starts
    // listening a moment after the click, shows one.
    const ada = server.demo[0];
    if (!ada) throw new Error('no demo account in the log');
    const shown = () =>
      page.evaluate(() =>
        (document.querySelector('.graphiql-response')?.textContent ?? '').replace(/\u00a0/g, ' '),
      );
    let seen = '';
    for (let attempt = 0; attempt < 20 && !seen; attempt++) {
      const title = `Live from the browser test ${attempt}`;
      const created = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ada.token}` },
        body: JSON.stringify({
          query: 'mutation($title: String!) { createPost(input: { title: $title }) { id } }',
          variables: { title },
        }),
      });
      expect(created.status).toBe(200);
      await page
        .waitForFunction(
          (expected) =>
            (document.querySelector('.graphiql-response')?.textContent ?? '')
              .replace(/\u00a0/g, ' ')
              .includes(expected),
          title,
          { timeout: 1_500 },
        )
        .then(
          () => {
            seen = title;
          },
          () => {},
        );
    }
    const pane = await shown();
    expect(seen, pane).not.toBe('');
    expect(pane).toContain('"postCreated"');
    expect(pane).not.toContain('CSRF');
    expect(sockets.map((address) => new URL(address).pathname)).toEqual(['/graphql']);
    expect(refused).toEqual([]);
    await page.close();
  });
});
