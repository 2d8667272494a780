// Real-browser test of the admin view of the web page (web/admin.js): starts
// the real tokend binary on a free loopback port with a temporary database
// (an admin made with `tokend user add --admin`, a plain user), drives Debian's
// headless Chromium through playwright-core, and checks that a non-admin sees
// no admin view and is refused by the API (403), and that an admin searches
// accounts, opens an account's tokens, revokes one, and disables and enables
// the account, each taking effect on the server at once. Screenshots go to the
// artifacts folder (docs/images/web-admin-*.png are copies).
//
// Environment: see harness.mjs (TOKEND_BINARY, TOKEND_SOURCE_DIR,
// TOKEND_WEB_ARTIFACTS, CHROMIUM_PATH).
//
// Prints one line per check and a final "N passed, M failed"; exits non-zero
// when anything failed. tokend and the browser are stopped on every path.

import assert from 'node:assert/strict';
import {
  UI_TIMEOUT_MS, check, http, launchChromium, problems, runSuite, shot, signInWithForm, visible, watch,
} from './harness.mjs';

const ADMIN = { username: 'root', password: 'admin password 0001', email: 'root@example.org', display: 'Rita Root' };
const ALICE = { username: 'alice', password: 'correct horse battery staple', email: 'alice@example.org', display: 'Alice Example' };
const BOB = { username: 'bob_smith', password: 'bob password 000001', email: 'bob@example.org', display: 'Bob Smith' };
// 401 (signed out) and the 403 this test provokes on purpose are answers.
const watchOptions = { answers: [401, 403] };

// ---- tokend -----------------------------------------------------------------

// A token for `u` from the form login, named `name`.
async function tokenFor(tokend, u, name) {
  const body = new URLSearchParams({ username: u.username, password: u.password, name }).toString();
  const r = await http(tokend, 'POST', '/api/authenticate/userpass',
    { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body });
  assert.equal(r.status, 200, `token for ${u.username}: ${r.text}`);
  return r.json.token;
}

async function userStatus(tokend, token) {
  return (await http(tokend, 'GET', '/api/user', { headers: { Authorization: `Bearer ${token}` } })).status;
}

// ---- the browser side -------------------------------------------------------

async function signIn(page, tokend, u) {
  await page.goto(tokend.base + '/', { timeout: UI_TIMEOUT_MS });
  await signInWithForm(page, u.username, u.password);
}

async function signOut(page) {
  await page.click('#signout');
  await visible(page, '#view-signin');
}

function userRow(page, username) {
  return page.locator('#admin-users-body tr').filter({ has: page.locator('.admin-username', { hasText: username }) });
}

function tokenRow(page, name) {
  return page.locator('#admin-tokens-body tr').filter({ has: page.locator('.token-name', { hasText: name }) });
}

async function listedUsernames(page) {
  return page.locator('#admin-users-body .admin-username').allTextContents();
}

async function search(page, text) {
  await page.fill('#admin-search', text);
  await page.click('#admin-search-submit');
}

async function confirmDialog(page, expectedTitle) {
  await visible(page, '#admin-dialog');
  assert.match(await page.textContent('#admin-dialog-title'), expectedTitle);
  // Cancel has the focus: Enter alone would not confirm.
  assert.equal(await page.evaluate(() => document.activeElement.id), 'admin-dialog-cancel');
  await page.click('#admin-dialog-confirm');
  await page.locator('#admin-dialog').waitFor({ state: 'hidden', timeout: UI_TIMEOUT_MS });
}

// ---- the test ----------------------------------------------------------------

async function runChecks(tokend, setBrowser) {
  const aliceCi = await tokenFor(tokend, ALICE, 'CI deploy');
  const aliceLaptop = await tokenFor(tokend, ALICE, 'laptop scripts');
  const bobToken = await tokenFor(tokend, BOB, 'bob tool');

  const browser = await launchChromium();
  setBrowser(browser);
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 }, locale: 'en-US', timezoneId: 'UTC', colorScheme: 'light',
  });
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  const page = await context.newPage();
  watch(page, 'page', watchOptions);

  await check('a non-admin sees no admin view, and the admin API refuses them with 403', async () => {
    await signIn(page, tokend, ALICE);
    // Give admin.js every chance to show itself: the token list has loaded.
    await page.locator('#tokens-body tr').first().waitFor({ state: 'visible' });
    assert.equal(await page.isVisible('#admin-panel'), false, 'admin panel visible to a non-admin');
    assert.equal(await page.locator('#admin-users-body tr').count(), 0);
    const calls = await page.evaluate(async () => {
      const get = await fetch('api/admin/users', { credentials: 'same-origin' });
      const del = await fetch('api/admin/tokens/1', { method: 'DELETE', credentials: 'same-origin' });
      return { get: get.status, getBody: await get.json(), del: del.status, delBody: await del.json() };
    });
    assert.equal(calls.get, 403);
    assert.equal(calls.getBody.error, 'forbidden');
    assert.equal(calls.del, 403);
    assert.equal(calls.delBody.error, 'forbidden');
    // Nothing was revoked by the refused call.
    assert.equal(await userStatus(tokend, bobToken), 200);
    await signOut(page);
  });

  await check('an admin sees the admin view with every account, roles and states', async () => {
    await signIn(page, tokend, ADMIN);
    await visible(page, '#admin-panel');
    await userRow(page, ALICE.username).waitFor({ state: 'visible' });
    assert.deepEqual(await listedUsernames(page), [ADMIN.username, ALICE.username, BOB.username]);
    assert.equal((await userRow(page, ADMIN.username).locator('.cell-role').textContent()).trim(), 'Admin');
    assert.equal((await userRow(page, ALICE.username).locator('.cell-role').textContent()).trim(), 'User');
    assert.equal((await userRow(page, ALICE.username).locator('.cell-state').textContent()).trim(), 'Active');
    // No Disable button on the admin's own row (the server refuses it too).
    assert.equal(await userRow(page, ADMIN.username).locator('button[data-action="disable"]').count(), 0);
    assert.match(await page.textContent('#admin-count'), /^3 accounts$/);
  });

  await check('search narrows the accounts by username or email, literally', async () => {
    await search(page, 'ALI');
    await page.waitForFunction(() => document.querySelectorAll('#admin-users-body tr').length === 1);
    assert.deepEqual(await listedUsernames(page), [ALICE.username]);
    await search(page, 'bob@example');
    await page.waitForFunction(() => document.querySelector('#admin-users-body .admin-username')?.textContent === 'bob_smith');
    // "_" is an underscore, not SQL's any-character: only bob_smith has one.
    await search(page, '_');
    await page.waitForFunction(() => document.querySelectorAll('#admin-users-body tr').length === 1);
    assert.deepEqual(await listedUsernames(page), [BOB.username]);
    await search(page, 'nobody-here');
    await visible(page, '#admin-users-empty');
    assert.match(await page.textContent('#admin-users-empty'), /No account matches “nobody-here”/);
    await search(page, '');
    await page.waitForFunction(() => document.querySelectorAll('#admin-users-body tr').length === 3);
    await shot(page, 'admin-01-accounts.png', { fullPage: true });
  });

  await check('an account\'s tokens are listed (never their values) and Revoke, after a dialog, revokes one', async () => {
    await userRow(page, ALICE.username).locator('button[data-action="tokens"]').click();
    await visible(page, '#admin-account');
    await tokenRow(page, 'CI deploy').waitFor({ state: 'visible' });
    assert.equal(await page.textContent('#admin-account-name'), ALICE.username);
    assert.equal(await page.locator('#admin-tokens-body tr').count(), 2);
    const html = await page.content();
    assert.ok(!html.includes(aliceCi) && !html.includes(aliceLaptop), 'a token value is on the page');
    await shot(page, 'admin-02-account-tokens.png', { fullPage: true });

    await tokenRow(page, 'CI deploy').locator('button[data-action="revoke"]').click();
    await confirmDialog(page, /Revoke token “CI deploy” of alice\?/);
    await page.locator('#admin-status .notice', { hasText: 'Token “CI deploy” was revoked.' }).waitFor({ state: 'visible' });
    await page.waitForFunction(() => document.querySelectorAll('#admin-tokens-body tr').length === 1);
    assert.equal(await userStatus(tokend, aliceCi), 401);
    assert.equal(await userStatus(tokend, aliceLaptop), 200);
  });

  await check('Cancel in the dialog changes nothing', async () => {
    await userRow(page, ALICE.username).locator('button[data-action="disable"]').click();
    await visible(page, '#admin-dialog');
    await page.keyboard.press('Escape');
    await page.locator('#admin-dialog').waitFor({ state: 'hidden' });
    assert.equal(await userStatus(tokend, aliceLaptop), 200);
    assert.equal((await userRow(page, ALICE.username).locator('.cell-state').textContent()).trim(), 'Active');
  });

  await check('Disable revokes the account\'s tokens at once; Enable lets it sign in again', async () => {
    await userRow(page, ALICE.username).locator('button[data-action="disable"]').click();
    await confirmDialog(page, /Disable account “alice”\?/);
    await page.locator('#admin-status .notice', { hasText: 'was disabled' }).waitFor({ state: 'visible' });
    await page.waitForFunction(() => [...document.querySelectorAll('#admin-users-body tr')]
      .some((tr) => tr.dataset.userId && tr.querySelector('.cell-state')?.textContent === 'Disabled'));
    assert.equal(await userStatus(tokend, aliceLaptop), 401);
    // The open token list follows: empty now.
    await visible(page, '#admin-tokens-empty');
    const refused = await http(tokend, 'POST', '/api/authenticate/userpass', {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: ALICE.username, password: ALICE.password }).toString(),
    });
    assert.equal(refused.status, 401);
    await shot(page, 'admin-03-disabled.png', { fullPage: true });

    await userRow(page, ALICE.username).locator('button[data-action="enable"]').click();
    await page.locator('#admin-status .notice', { hasText: 'was enabled' }).waitFor({ state: 'visible' });
    assert.equal((await userRow(page, ALICE.username).locator('.cell-state').textContent()).trim(), 'Active');
    assert.ok(await tokenFor(tokend, ALICE, 'after enable'));
    assert.equal(await userStatus(tokend, aliceLaptop), 401, 'old tokens stay revoked');
  });

  await check('a phone-sized screen shows the admin view without horizontal scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await userRow(page, ALICE.username).waitFor({ state: 'visible' });
    const layout = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
    }));
    assert.ok(layout.scrollWidth <= layout.clientWidth, `horizontal scroll: ${JSON.stringify(layout)}`);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await check('signing out hides and empties the admin view', async () => {
    await signOut(page);
    assert.equal(await page.isVisible('#admin-panel'), false);
    assert.equal(await page.locator('#admin-users-body tr').count(), 0);
    assert.equal(await page.locator('#admin-tokens-body tr').count(), 0);
  });

  await check('no console errors, page errors or failed loads during the run', async () => {
    assert.deepEqual(problems, []);
  });

  await context.close();
}

await runSuite({
  tmpPrefix: 'tokend-web-admin-',
  logName: 'tokend-admin.log',
  setup: (tokend) => {
    tokend.addUser(ADMIN, ['--admin']);
    tokend.addUser(ALICE);
    tokend.addUser(BOB);
  },
  runChecks,
});
