// What the real-browser tests of the web page (browser_test.mjs,
// admin_browser_test.mjs) share: their environment, the check runner, a real
// tokend on a free loopback port with a temporary database, plain HTTP calls
// from node, Debian's headless Chromium through playwright-core, and the
// watcher that turns console errors, page errors and failed loads into
// problems.
//
// Environment:
//   TOKEND_BINARY         the tokend executable (required)
//   TOKEND_SOURCE_DIR     the repository (default: two folders up from here)
//   TOKEND_WEB_ARTIFACTS  folder for screenshots and the server log
//                         (default: ./web-artifacts)
//   CHROMIUM_PATH         the browser (default: /usr/bin/chromium)

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const binary = process.env.TOKEND_BINARY;
export const sourceDir = path.resolve(process.env.TOKEND_SOURCE_DIR || path.join(here, '..', '..'));
export const artifacts = path.resolve(process.env.TOKEND_WEB_ARTIFACTS || 'web-artifacts');
export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const UI_TIMEOUT_MS = 8000;      // any single wait in the browser
export const START_TIMEOUT_MS = 20000;  // tokend start-up
export const HTTP_TIMEOUT_MS = 5000;    // any request made from node

// ---- checks -----------------------------------------------------------------

export const results = [];

// Runs one named check; prints "ok" or "FAIL" with the error, never throws.
export async function check(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   - ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    results.push({ name, ok: false });
    console.log(`FAIL - ${name} (${Date.now() - started} ms)`);
    console.log(String(err && err.stack ? err.stack : err).replace(/^/gm, '       '));
  }
}

// Polls `fn` until it returns a truthy value; throws after `timeoutMs`.
export async function waitFor(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function runSync(args, input) {
  const r = spawnSync(binary, args, { input, encoding: 'utf8', timeout: 30000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`tokend ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
  return r;
}

// ---- tokend -----------------------------------------------------------------

// The real binary in `dir`: a config listening on a free loopback port, a
// SQLite file, the log file, the repository's web/ folder, and `extraConfig`
// on top.
export class Tokend {
  constructor(dir, extraConfig = {}) {
    this.dir = dir;
    this.configPath = path.join(dir, 'tokend.json');
    this.logPath = path.join(dir, 'tokend.log');
    this.output = '';
    this.proc = null;
    this.exited = null;
    fs.writeFileSync(this.configPath, JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      database: { path: path.join(dir, 'tokend.db') },
      log: { file: this.logPath },
      web: { root: path.join(sourceDir, 'web') },
      ...extraConfig,
    }, null, 2));
  }

  // `tokend user add` for u = { username, password, email, display }, with
  // `extra` arguments (e.g. ['--admin']).
  addUser(u, extra = []) {
    runSync(['user', 'add', u.username, '--email', u.email, '--display-name', u.display, ...extra,
      '--config', this.configPath], `${u.password}\n`);
  }

  async start() {
    this.proc = spawn(binary, ['serve', '--config', this.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d) => { this.output += d; });
    this.proc.stderr.on('data', (d) => { this.output += d; });
    this.exitPromise = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => { this.exited = { code, signal }; resolve(); });
    });
    this.port = await waitFor('the "listening on" log line', () => {
      if (this.exited) throw new Error(`tokend exited early (${JSON.stringify(this.exited)}): ${this.output}${this.log()}`);
      const m = /listening on [^ ]*:([0-9]+)/.exec(this.log() + this.output);
      return m ? Number(m[1]) : 0;
    }, START_TIMEOUT_MS);
    this.base = `http://127.0.0.1:${this.port}`;
    return this.port;
  }

  log() {
    try { return fs.readFileSync(this.logPath, 'utf8'); } catch { return ''; }
  }

  async stop() {
    if (!this.proc || this.exited) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => { if (!this.exited) this.proc.kill('SIGKILL'); }, 10000);
    await this.exitPromise;
    clearTimeout(timer);
  }
}

// One request from node: { status, headers, text, json (null when not JSON) }.
export async function http(tokend, method, target, { headers = {}, body } = {}) {
  const response = await fetch(tokend.base + target, {
    method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: response.status, headers: response.headers, text, json };
}

// ---- the browser side -------------------------------------------------------

export const problems = [];  // console errors, page errors, failed loads

// Records everything `page` reports that would be a bug in the page.
// Chromium logs every non-2xx fetch: the API answers in `answers` (e.g. 401
// when signed out) are ones the page handles, and the response listener
// checks that no other load failed. `expected()` returns the patterns of the
// console errors and failed requests a check provokes on purpose.
export function watch(page, label, { answers = [401], expected = () => [] } = {}) {
  const handled = new RegExp(`^Failed to load resource: the server responded with a status of (${answers.join('|')}) `);
  page.on('pageerror', (err) => problems.push(`${label}: page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error' && msg.type() !== 'warning') return;
    const text = msg.text();
    if (handled.test(text)) return;
    if (expected().some((re) => re.test(text))) return;
    problems.push(`${label}: console ${msg.type()}: ${text}`);
  });
  page.on('response', (response) => {
    const url = new URL(response.url());
    if (response.status() >= 400 && !url.pathname.startsWith('/api/')) {
      problems.push(`${label}: ${response.status()} for ${url.pathname}`);
    }
  });
  page.on('requestfailed', (request) => {
    const failure = request.failure();
    const text = `${request.url()} ${failure && failure.errorText}`;
    // A navigation (reload) cancels the page's requests in flight: not an error.
    if (failure && failure.errorText === 'net::ERR_ABORTED') return;
    if (expected().some((re) => re.test(text))) return;
    problems.push(`${label}: request failed: ${text}`);
  });
}

export function launchChromium() {
  return chromium.launch({
    executablePath: chromiumPath,
    timeout: 30000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export async function shot(page, name, options = {}) {
  await page.screenshot({ path: path.join(artifacts, name), ...options });
}

export const visible = (page, selector) => page.locator(selector).waitFor({ state: 'visible', timeout: UI_TIMEOUT_MS });
export const hiddenOrGone = (page, selector) => page.locator(selector).waitFor({ state: 'hidden', timeout: UI_TIMEOUT_MS });

// Signs in with the form on the page already open, by mouse.
export async function signInWithForm(page, username, password) {
  await visible(page, '#view-signin');
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#signin-submit');
  await visible(page, '#view-tokens');
}

// ---- a whole run --------------------------------------------------------------

// Starts tokend in a fresh temporary folder (named `tmpPrefix`...), lets
// `setup(tokend)` add accounts before the start, runs `runChecks(tokend,
// setBrowser)`, and stops tokend and Chromium on every path (ctest's timeout
// and ^C too); copies the server log to the artifacts as `logName`. Prints
// "N passed, M failed"; the exit code is 0 only when checks ran and all passed.
export async function runSuite({ tmpPrefix, logName, extraConfig = {}, setup, runChecks }) {
  assert.ok(binary, 'TOKEND_BINARY must name the tokend executable');
  assert.ok(fs.existsSync(binary), `TOKEND_BINARY does not exist: ${binary}`);
  assert.ok(fs.existsSync(chromiumPath), `Chromium not found at ${chromiumPath} (apt-get install chromium)`);
  fs.mkdirSync(artifacts, { recursive: true });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
  const tokend = new Tokend(dir, extraConfig);
  let browser = null;
  const stopAll = async () => {
    if (browser) await browser.close().catch(() => {});
    browser = null;
    await tokend.stop();
  };
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => { stopAll().finally(() => process.exit(2)); });
  }

  try {
    setup(tokend);
    await tokend.start();
    console.log(`tokend listening on ${tokend.base}, temp dir ${dir}`);
    await runChecks(tokend, (b) => { browser = b; });
  } catch (err) {
    results.push({ name: 'setup', ok: false });
    console.log(`FAIL - setup\n${String(err && err.stack ? err.stack : err).replace(/^/gm, '       ')}`);
  } finally {
    await stopAll();
    try { fs.copyFileSync(tokend.logPath, path.join(artifacts, logName)); } catch { /* no log */ }
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(`screenshots in ${artifacts}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}
