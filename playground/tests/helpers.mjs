// What the playground's tests share: paths, the engine in node, the page in headless Chromium.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PLAYGROUND = fileURLToPath(new URL('..', import.meta.url));
export const REPO = join(PLAYGROUND, '..');
export const DIST = join(PLAYGROUND, 'dist');
export const SCREENSHOTS = join(DIST, 'screenshots');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export function repoFile(path) {
  return readFileSync(join(REPO, path), 'utf8');
}

/** The built page's files must be there: `make playground-build` writes them. */
function requireBuild() {
  const wasm = join(DIST, 'pkg', 'sidecar_injector_playground_bg.wasm');
  if (!existsSync(wasm)) throw new Error(`${wasm} is missing: run make playground-build`);
  return wasm;
}

/** The page's engine (playground/dist/engine.js), run by node on the built module. */
export async function loadEngine() {
  const wasm = requireBuild();
  const { Engine } = await import(join(DIST, 'engine.js'));
  return Engine.load(readFileSync(wasm));
}

/** Headless Chromium (Debian's) with the built page served on a free port of 127.0.0.1. */
export async function openPlayground() {
  requireBuild();
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (make playground-tests does)`);
  const { chromium } = await import('playwright-core');
  const { serve } = await import(join(PLAYGROUND, 'serve.mjs'));
  const { server, url } = await serve({ root: DIST, port: 0 });
  const profile = mkdtempSync(join(tmpdir(), 'playground-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  await page.goto(url);
  await settled(page);
  return {
    page,
    url,
    problems,
    async close() {
      await context.close();
      await new Promise((resolve) => server.close(resolve));
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Waits until the page has evaluated its latest input. */
export async function settled(page) {
  await page.waitForFunction(() => document.body.dataset.pending === 'false', null, { timeout: 20000 });
}

export async function fill(page, selector, text) {
  await page.locator(selector).fill(text);
  await settled(page);
}

export function screenshotPath(name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return join(SCREENSHOTS, name);
}
