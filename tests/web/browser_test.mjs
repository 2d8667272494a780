// Real-browser test of the tokend web page (web/): starts the real tokend
// binary on a free loopback port with a temporary database, drives Debian's
// headless Chromium through playwright-core, and checks what a person does:
// sign in (also with the keyboard alone), create a token, see it exactly once,
// use it, revoke it, sign out, and meet readable errors (wrong password,
// throttling, server down, expired session). Screenshots of each main screen go
// to the artifacts folder.
//
// Environment: see harness.mjs (TOKEND_BINARY, TOKEND_SOURCE_DIR,
// TOKEND_WEB_ARTIFACTS, CHROMIUM_PATH).
//
// Prints one line per check and a final "N passed, M failed"; exits non-zero
// when anything failed. tokend and the browser are stopped on every path.

import assert from 'node:assert/strict';
import {
  HTTP_TIMEOUT_MS, UI_TIMEOUT_MS, check, hiddenOrGone, http, launchChromium, problems, runSuite, shot,
  signInWithForm, visible, waitFor, watch,
} from './harness.mjs';

const ALICE = { username: 'alice', password: 'correct horse battery staple', email: 'alice@example.org',
  display: 'Alice Example' };
const USERNAME = ALICE.username;
const PASSWORD = ALICE.password;
const DISPLAY_NAME = ALICE.display;
const EXPIRED_MESSAGE = 'Your session has expired. Please sign in again.';

// Console errors a check provokes on purpose (it fakes a 503 or a network
// failure); set only while that check runs.
let expectedConsole = [];
// The API's 401 (not signed in, wrong password, expired session) and 429
// (throttled) are answers the page handles.
const watchOptions = { answers: [401, 429], expected: () => expectedConsole };

// ---- the browser side -------------------------------------------------------

// Runs in every page before its own scripts: collects CSP violation reports.
function cspRecorder() {
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
  });
}

async function noticeText(page, region) {
  const notice = page.locator(`${region} .notice`);
  await notice.waitFor({ state: 'visible', timeout: UI_TIMEOUT_MS });
  return (await notice.textContent()).trim();
}

async function waitForNotice(page, region, pattern) {
  await page.waitForFunction(
    ([sel, source]) => {
      const el = document.querySelector(`${sel} .notice`);
      return el && new RegExp(source).test(el.textContent);
    },
    [region, pattern.source],
    { timeout: UI_TIMEOUT_MS });
  return noticeText(page, region);
}

function assertReadable(text) {
  assert.ok(text.length > 0, 'message is empty');
  assert.ok(!/[{}]/.test(text), `message looks like raw JSON: ${text}`);
  assert.ok(!/"error"\s*:/.test(text), `message contains a JSON error field: ${text}`);
}

async function createToken(page, name, days) {
  await page.fill('#token-name', name);
  await page.selectOption('#token-expiry', String(days));
  await page.click('#create-submit');
  await visible(page, '#new-token');
  await page.waitForFunction(
    (n) => document.getElementById('new-token-name').textContent === n, name, { timeout: UI_TIMEOUT_MS });
  const value = await page.inputValue('#new-token-value');
  // The list reloads after creation; wait for the new row.
  await rowFor(page, name).waitFor({ state: 'visible', timeout: UI_TIMEOUT_MS });
  return value;
}

function rowFor(page, name) {
  return page.locator('#tokens-body tr').filter({ has: page.locator('.token-name', { hasText: name }) });
}

// ---- the test ----------------------------------------------------------------

async function runChecks(tokend, setBrowser) {
  await check('static page is served with a CSP that forbids inline script and style', async () => {
    for (const file of ['/', '/app.js', '/app.css']) {
      const r = await http(tokend, 'GET', file);
      assert.equal(r.status, 200, `${file}: status`);
      const csp = r.headers.get('content-security-policy') || '';
      assert.match(csp, /(^|;)\s*script-src 'self'\s*(;|$)/, `${file}: CSP script-src: ${csp}`);
      assert.match(csp, /(^|;)\s*style-src 'self'\s*(;|$)/, `${file}: CSP style-src: ${csp}`);
      assert.match(csp, /frame-ancestors 'none'/, `${file}: CSP frame-ancestors: ${csp}`);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `${file}: CSP allows inline code: ${csp}`);
    }
    const page = await http(tokend, 'GET', '/');
    assert.match(page.headers.get('content-type') || '', /^text\/html/);
    assert.match(page.text, /<form id="signin-form"/);
    assert.match((await http(tokend, 'GET', '/app.js')).headers.get('content-type') || '', /javascript/);
    assert.match((await http(tokend, 'GET', '/app.css')).headers.get('content-type') || '', /^text\/css/);
  });

  const browser = await launchChromium();
  setBrowser(browser);
  const context = await browser.newContext({
    viewport: { width: 1280, height: 860 },
    locale: 'en-US',
    timezoneId: 'UTC',
    colorScheme: 'light',
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  await context.addInitScript(cspRecorder);
  const page = await context.newPage();
  watch(page, 'page', watchOptions);

  let tokenA = '';
  let tokenB = '';
  const nameA = 'CI deploy';
  const nameB = 'laptop scripts';

  await check('the page opens on the sign-in form with the username focused', async () => {
    await page.goto(tokend.base + '/', { timeout: UI_TIMEOUT_MS });
    await visible(page, '#view-signin');
    assert.equal(await page.isHidden('#view-tokens'), true);
    await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'username');
    // One configured method: no picker.
    assert.equal(await page.isHidden('#method-field'), true, 'method picker shown with one method');
    assert.equal(await page.locator('#signin-alert .notice').count(), 0);
    await shot(page, '01-signin.png');
  });

  await check('submitting an empty form asks for the username and password', async () => {
    await page.click('#signin-submit');
    const text = await waitForNotice(page, '#signin-alert', /Enter your username and password/);
    assertReadable(text);
    assert.equal(await page.getAttribute('#username', 'aria-invalid'), 'true');
  });

  await check('a wrong password shows "Wrong username or password"', async () => {
    await page.fill('#username', USERNAME);
    await page.fill('#password', 'not the password');
    await page.click('#signin-submit');
    const text = await waitForNotice(page, '#signin-alert', /Wrong username or password/);
    assertReadable(text);
    assert.equal(await page.inputValue('#password'), '', 'password field is cleared');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'password');
    assert.equal(await page.isHidden('#view-tokens'), true);
    await shot(page, '02-signin-error.png');
  });

  await check('server errors and network failures show readable messages', async () => {
    expectedConsole = [/status of 503/, /ERR_FAILED/];
    await page.route('**/api/login', (route) => route.fulfill({
      status: 503, contentType: 'application/json',
      body: JSON.stringify({ error: 'upstream_unavailable', message: 'x' }),
    }));
    await page.fill('#password', 'anything');
    await page.click('#signin-submit');
    assertReadable(await waitForNotice(page, '#signin-alert', /server could not complete the request \(error 503\)/));
    await page.unroute('**/api/login');
    await page.route('**/api/login', (route) => route.abort('failed'));
    await page.fill('#password', 'anything');
    await page.click('#signin-submit');
    assertReadable(await waitForNotice(page, '#signin-alert', /Cannot reach the server/));
    await page.unroute('**/api/login');
    expectedConsole = [];
  });

  await check('throttled sign-in says "Too many attempts, try again in N seconds"', async () => {
    // Exhaust the per-username throttle for another (unknown) name from node,
    // then let the page meet the 429.
    const target = 'mallory';
    await waitFor('a 429 from /api/login', async () => {
      const r = await fetch(`${tokend.base}/api/login`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: target, password: 'wrong password' }),
        signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
      });
      await r.text();
      assert.ok(r.status === 401 || r.status === 429, `unexpected status ${r.status}`);
      return r.status === 429;
    }, 15000);
    await page.fill('#username', target);
    await page.fill('#password', 'wrong password');
    await page.click('#signin-submit');
    const text = await waitForNotice(page, '#signin-alert', /Too many attempts/);
    assert.match(text, /^Too many attempts, try again in \d+ seconds?\.$/);
  });

  await check('keyboard alone signs in (focus, type, Tab, type, Enter) with a visible focus ring', async () => {
    await page.goto(tokend.base + '/', { timeout: UI_TIMEOUT_MS });
    await visible(page, '#view-signin');
    await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'username');
    await page.keyboard.type(USERNAME);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'password');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'signin-submit');
    const ring = await page.evaluate(() => {
      const s = getComputedStyle(document.activeElement);
      return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
    });
    assert.ok(ring.style !== 'none' && ring.width >= 2, `no visible focus ring: ${JSON.stringify(ring)}`);
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Enter');  // submits from the password field
    await visible(page, '#view-tokens');
    assert.equal(await page.textContent('#account-name'), DISPLAY_NAME);
    assert.equal(await page.isHidden('#view-signin'), true);
  });

  await check('the session cookie is HttpOnly and SameSite=Lax, invisible to scripts', async () => {
    const cookies = await context.cookies(tokend.base);
    const session = cookies.find((c) => c.name === 'tokend_session');
    assert.ok(session, `no tokend_session cookie in ${JSON.stringify(cookies.map((c) => c.name))}`);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    assert.equal(session.path, '/');
    assert.ok(!(await page.evaluate(() => document.cookie)).includes('tokend_session'));
  });

  await check('a new account starts with an empty token list', async () => {
    await visible(page, '#tokens-empty');
    assert.equal(await page.isHidden('#tokens-table'), true);
  });

  await check('creating a token shows it once in a panel, and Copy puts it on the clipboard', async () => {
    tokenA = await createToken(page, nameA, 30);
    assert.match(tokenA, /^[0-9a-f]{256}$/, 'token is 256 hex characters');
    const note = await page.textContent('#new-token');
    assert.match(note, /will not be shown again/);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'copy-token', 'focus moves to Copy');
    await page.click('#copy-token');
    await page.waitForFunction(() => document.getElementById('copy-status').textContent.includes('Copied'));
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(clip, tokenA, 'clipboard holds the token');
    await shot(page, '03-new-token.png', { fullPage: true });
  });

  await check('the new token is listed with name, source, dates and "Never used"', async () => {
    const row = rowFor(page, nameA);
    assert.equal(await row.count(), 1);
    assert.equal((await row.locator('.cell-source').textContent()).trim(), 'session');
    const expires = (await row.locator('.cell-expires').textContent()).trim();
    assert.notEqual(expires, 'Never');
    const expiresIso = await row.locator('.cell-expires time').getAttribute('datetime');
    const days = (Date.parse(expiresIso) - Date.now()) / 86400000;
    assert.ok(days > 29 && days <= 30.01, `expires in ${days} days, wanted 30`);
    assert.match((await row.locator('.cell-created').textContent()).trim(), /\b20\d\d\b/);
    assert.equal((await row.locator('.cell-used').textContent()).trim(), 'Never used');
  });

  await check('the new token carries the default scopes, shown in its row', async () => {
    const row = rowFor(page, nameA);
    const tags = await row.locator('.cell-scopes .scope-tag').allTextContents();
    assert.deepEqual(tags, ['repo:read', 'repo:write']);
  });

  await check('scope checkboxes: defaults pre-checked; a token made with one unchecked lists the others', async () => {
    await visible(page, '#scope-field');
    const boxes = page.locator('#scope-list input[type=checkbox]');
    assert.equal(await boxes.count(), 3);
    assert.equal(await page.isChecked('#scope-list input[value="repo:read"]'), true);
    assert.equal(await page.isChecked('#scope-list input[value="repo:write"]'), true);
    assert.equal(await page.isChecked('#scope-list input[value="admin"]'), false);
    // Descriptions are shown next to the names.
    assert.match(await page.textContent('#scope-list'), /Push to repositories/);
    await page.uncheck('#scope-list input[value="repo:write"]');
    await page.check('#scope-list input[value="admin"]');
    const scoped = 'scoped ' + Date.now();
    const value = await createToken(page, scoped, 7);
    const tags = await rowFor(page, scoped).locator('.cell-scopes .scope-tag').allTextContents();
    assert.deepEqual(tags, ['repo:read', 'admin']);
    // The server agrees: GET /api/user reports the token's scopes.
    const r = await fetch(`${tokend.base}/api/user`, {
      headers: { Authorization: `Bearer ${value}` }, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
    assert.equal(r.status, 200);
    assert.deepEqual((await r.json()).token.scopes, ['repo:read', 'admin']);
    // The form is back to the defaults for the next token.
    assert.equal(await page.isChecked('#scope-list input[value="repo:write"]'), true);
    assert.equal(await page.isChecked('#scope-list input[value="admin"]'), false);
    // Gone again, so the later checks see the tokens they expect.
    const del = await fetch(`${tokend.base}/api/token`, {
      method: 'DELETE', headers: { Authorization: `Bearer ${value}` }, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
    assert.equal(del.status, 204);
  });

  await check('an expiry past the server\'s cap names the cap from the "maxDays" field', async () => {
    expectedConsole = [/status of 400/];
    // The message says no number: the page must take the cap from maxDays.
    await page.route('**/api/token', (route) => route.fulfill({
      status: 400, contentType: 'application/json',
      body: JSON.stringify({ error: 'invalid_field', field: 'expiresInDays', maxDays: 30, message: 'too long' }),
    }));
    await page.fill('#token-name', 'too long');
    await page.selectOption('#token-expiry', '90');
    await page.click('#create-submit');
    assertReadable(await waitForNotice(page, '#tokens-alert', /at most 30 days/));
    await page.unroute('**/api/token');
    await page.fill('#token-name', '');
    expectedConsole = [];
  });

  await check('a token from the seed\'s form login (POST /api/authenticate/userpass) is issued', async () => {
    const r = await fetch(`${tokend.base}/api/authenticate/userpass`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: USERNAME, password: PASSWORD }).toString(),
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
    const body = await r.json();
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.match(body.token, /^[0-9a-f]{256}$/);
  });

  await check('once dismissed or reloaded, the token value is nowhere on the page', async () => {
    await page.click('#dismiss-token');
    await hiddenOrGone(page, '#new-token');
    assert.equal(await page.inputValue('#new-token-value'), '');
    assert.ok(!(await page.content()).includes(tokenA), 'token still in the DOM');
    tokenB = await createToken(page, nameB, 7);
    await page.reload({ timeout: UI_TIMEOUT_MS });
    await visible(page, '#view-tokens');
    await rowFor(page, nameA).waitFor({ state: 'visible' });
    await rowFor(page, nameB).waitFor({ state: 'visible' });
    // The list shows every live token, whatever made it, with its source.
    const sources = await page.locator('#tokens-body .cell-source').allTextContents();
    assert.deepEqual(sources.map((t) => t.trim()).sort(), ['session', 'session', 'userpass']);
    assert.equal(await page.isHidden('#new-token'), true);
    assert.ok(!(await page.content()).includes(tokenA), 'token in the page after reload');
    await shot(page, '04-token-table.png', { fullPage: true });
  });

  await check('the token authenticates GET /api/user from outside the browser', async () => {
    const r = await http(tokend, 'GET', '/api/user', { headers: { Authorization: `Bearer ${tokenA}` } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.username, USERNAME);
    assert.equal(r.json.token.name, nameA);
  });

  await check('Revoke asks first (keyboard: Escape cancels, Tab+Enter confirms), then removes the token', async () => {
    const row = rowFor(page, nameA);
    await row.locator('button.revoke').focus();
    await page.keyboard.press('Enter');
    await visible(page, '#revoke-dialog');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'revoke-cancel', 'Cancel is the default');
    assert.match(await page.textContent('#revoke-name'), new RegExp(nameA));
    await shot(page, '07-revoke-dialog.png');
    await page.keyboard.press('Escape');
    await hiddenOrGone(page, '#revoke-dialog');
    assert.equal(await row.count(), 1, 'Escape must not revoke');
    assert.equal((await http(tokend, 'GET', '/api/user', { headers: { Authorization: `Bearer ${tokenA}` } })).status, 200);

    await row.locator('button.revoke').focus();
    await page.keyboard.press('Enter');
    await visible(page, '#revoke-dialog');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'revoke-confirm');
    await page.keyboard.press('Enter');
    await row.waitFor({ state: 'detached' });
    const text = await waitForNotice(page, '#tokens-status', /was revoked/);
    assert.ok(text.includes(nameA), text);
    assert.equal(await rowFor(page, nameB).count(), 1, 'the other token stays');
  });

  await check('the revoked token is refused by GET /api/user', async () => {
    const r = await http(tokend, 'GET', '/api/user', { headers: { Authorization: `Bearer ${tokenA}` } });
    assert.equal(r.status, 401, r.text);
  });

  await check('Rotate asks first (Cancel is the default), then shows the new token once; the old one stops', async () => {
    const row = rowFor(page, nameB);
    const oldId = await row.getAttribute('data-token-id');
    await row.locator('button.rotate').focus();
    await page.keyboard.press('Enter');
    await visible(page, '#rotate-dialog');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'rotate-cancel', 'Cancel is the default');
    assert.match(await page.textContent('#rotate-name'), new RegExp(nameB));
    await page.keyboard.press('Escape');
    await hiddenOrGone(page, '#rotate-dialog');
    assert.equal((await http(tokend, 'GET', '/api/user', { headers: { Authorization: `Bearer ${tokenB}` } })).status, 200,
      'Escape must not rotate');

    await row.locator('button.rotate').click();
    await visible(page, '#rotate-dialog');
    await page.click('#rotate-confirm');
    await visible(page, '#new-token');
    await page.waitForFunction(
      (n) => document.getElementById('new-token-name').textContent === n, nameB, { timeout: UI_TIMEOUT_MS });
    const fresh = await page.inputValue('#new-token-value');
    assert.match(fresh, /^[0-9a-f]{256}$/);
    assert.notEqual(fresh, tokenB);
    await shot(page, '08-rotated-token.png');
    // The list now holds the new token under the same name, with a new id.
    await page.waitForFunction((id) => {
      const rows = [...document.querySelectorAll('#tokens-body tr')];
      return rows.length > 0 && rows.every((r) => r.dataset.tokenId !== id);
    }, oldId, { timeout: UI_TIMEOUT_MS });
    assert.equal(await rowFor(page, nameB).count(), 1);
    assert.equal((await http(tokend, 'GET', '/api/user', { headers: { Authorization: `Bearer ${tokenB}` } })).status, 401);
    const me = await http(tokend, 'GET', '/api/user', { headers: { Authorization: `Bearer ${fresh}` } });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.token.name, nameB);
    await page.click('#dismiss-token');
    await hiddenOrGone(page, '#new-token');
    assert.ok(!(await page.content()).includes(fresh), 'rotated token still in the DOM');
    tokenB = fresh;
  });

  await check('a 10-minute token: the expiry choice below a day asks for expiresInSeconds', async () => {
    const before = Date.now();
    const short = await createToken(page, 'ten minutes', '600s');
    const me = await http(tokend, 'GET', '/api/user', { headers: { Authorization: `Bearer ${short}` } });
    assert.equal(me.status, 200, me.text);
    const expires = Date.parse(me.json.token.expiresOn);
    assert.ok(expires >= before + 600000 && expires <= Date.now() + 600000, me.json.token.expiresOn);
    await page.click('#dismiss-token');
    await hiddenOrGone(page, '#new-token');
  });

  await check('a phone-sized screen (390x844) shows the tokens as cards without horizontal scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await rowFor(page, nameB).waitFor({ state: 'visible' });
    const layout = await page.evaluate(() => {
      const rows = [...document.querySelectorAll('#tokens-body tr')];
      const right = Math.max(...[...document.querySelectorAll('body *')]
        .filter((e) => e.getClientRects().length > 0 && !e.closest('.visually-hidden'))
        .map((e) => e.getBoundingClientRect().right));
      return {
        scrollWidth: document.documentElement.scrollWidth,
        clientWidth: document.documentElement.clientWidth,
        right,
        rowDisplay: rows.map((r) => getComputedStyle(r).display),
        theadDisplay: getComputedStyle(document.querySelector('#tokens-table thead')).display,
      };
    });
    assert.ok(layout.scrollWidth <= layout.clientWidth, `horizontal scroll: ${JSON.stringify(layout)}`);
    assert.ok(layout.right <= layout.clientWidth + 0.5, `content sticks out: ${JSON.stringify(layout)}`);
    assert.ok(layout.rowDisplay.length > 0 && layout.rowDisplay.every((d) => d === 'block'), 'rows are not cards');
    assert.equal(layout.theadDisplay, 'none');
    await shot(page, '05-phone.png', { fullPage: true });
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  await check('after sign-out in another tab, the next action shows the session-expired message', async () => {
    const other = await context.newPage();
    watch(other, 'other tab', watchOptions);
    await other.goto(tokend.base + '/', { timeout: UI_TIMEOUT_MS });
    await visible(other, '#view-tokens');
    await other.click('#signout');
    await visible(other, '#view-signin');
    await other.close();

    // The page re-checks its session when it becomes visible again; if that
    // already noticed the sign-out, there is nothing left to click.
    if (await page.isVisible('#view-tokens')) {
      await page.fill('#token-name', 'should not be created');
      await page.click('#create-submit');
    }
    await visible(page, '#view-signin');
    const text = await waitForNotice(page, '#signin-alert', /expired/);
    assert.equal(text, EXPIRED_MESSAGE);
    assert.equal(await page.textContent('#tokens-body'), '', 'old token list is cleared');
    await shot(page, '06-session-expired.png');
  });

  await check('signing in again and signing out returns to the sign-in form', async () => {
    await signInWithForm(page, USERNAME, PASSWORD);
    await rowFor(page, nameB).waitFor({ state: 'visible' });
    assert.equal(await rowFor(page, 'should not be created').count(), 0);
    await page.click('#signout');
    await visible(page, '#view-signin');
    assert.match(await noticeText(page, '#signin-status'), /signed out/);
    const session = await page.evaluate(async () => (await fetch('api/session', { credentials: 'same-origin' })).status);
    assert.equal(session, 401);
    await page.reload({ timeout: UI_TIMEOUT_MS });
    await visible(page, '#view-signin');
  });

  await check('the browser enforces the CSP: an injected inline script is blocked', async () => {
    const probe = await context.newPage();
    await probe.goto(tokend.base + '/', { timeout: UI_TIMEOUT_MS });
    await visible(probe, '#view-signin');
    const ran = await probe.evaluate(async () => {
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true;';
      document.head.appendChild(s);
      await new Promise((r) => setTimeout(r, 0));
      return { ran: window.__inlineRan === true, violations: window.__cspViolations.slice() };
    });
    await probe.close();
    assert.equal(ran.ran, false, 'inline script ran');
    assert.ok(ran.violations.some((v) => v.startsWith('script-src')), `no violation: ${ran.violations}`);
  });

  await check('no console errors, page errors, failed loads or CSP violations during the run', async () => {
    const violations = await page.evaluate(() => window.__cspViolations);
    assert.deepEqual(violations, []);
    assert.deepEqual(problems, []);
  });

  await context.close();
}

await runSuite({
  tmpPrefix: 'tokend-web-',
  logName: 'tokend.log',
  // Declared scopes: the create form shows one checkbox each.
  extraConfig: {
    scopes: [
      { name: 'repo:read', description: 'Read repositories', default: true },
      { name: 'repo:write', description: 'Push to repositories', default: true },
      { name: 'admin', description: 'Administration' },
    ],
  },
  setup: (tokend) => tokend.addUser(ALICE),
  runChecks,
});
