// The admin view of the "Manage API tokens" page (docs/web.md, "Admin view"):
// accounts with search, one account's tokens with Revoke, disable and enable.
// Shown only when GET /api/session says the account is an admin; the server
// checks the role again on every /api/admin/ call (a non-admin gets 403), so
// hiding the view is a convenience, not the protection.
//
// Uses the page's helpers (window.tokendPage, web/app.js) and never builds
// HTML from text: every name goes in with textContent.
(function () {
  'use strict';

  const page = window.tokendPage;
  if (!page) return;
  const byId = (id) => document.getElementById(id);

  const ui = {
    panel: byId('admin-panel'),
    title: byId('admin-title'),
    count: byId('admin-count'),
    alert: byId('admin-alert'),
    status: byId('admin-status'),
    searchForm: byId('admin-search-form'),
    search: byId('admin-search'),
    usersEmpty: byId('admin-users-empty'),
    usersTable: byId('admin-users-table'),
    usersBody: byId('admin-users-body'),
    more: byId('admin-more'),
    account: byId('admin-account'),
    accountTitle: byId('admin-account-title'),
    accountName: byId('admin-account-name'),
    accountClose: byId('admin-account-close'),
    tokensEmpty: byId('admin-tokens-empty'),
    tokensTable: byId('admin-tokens-table'),
    tokensBody: byId('admin-tokens-body'),
    dialog: byId('admin-dialog'),
    dialogTitle: byId('admin-dialog-title'),
    dialogDesc: byId('admin-dialog-desc'),
    dialogConfirm: byId('admin-dialog-confirm'),
  };

  const kPageSize = 50;
  const kMaxTokenPages = 20;

  const state = {
    me: null,        // the signed-in admin
    users: [],
    cursor: null,    // nextCursor of the last page, null when it was the last
    query: '',       // the search the list shows
    account: null,   // the account whose tokens are open
    tokens: [],
    pending: null,   // what the open dialog confirms: {run: async function}
  };

  function clear() {
    state.me = null;
    state.users = [];
    state.cursor = null;
    state.query = '';
    state.account = null;
    state.tokens = [];
    state.pending = null;
    if (ui.dialog.open) ui.dialog.close('cancel');
    ui.panel.hidden = true;
    ui.usersBody.textContent = '';
    ui.tokensBody.textContent = '';
    ui.account.hidden = true;
    ui.search.value = '';
    page.setMessage(ui.alert, '');
    page.setMessage(ui.status, '');
  }

  page.onChange(function (event, user) {
    clear();
    if (event !== 'session' || !user || user.admin !== true) return;
    state.me = user;
    ui.panel.hidden = false;
    loadUsers(true);
  });

  // A call's failure in words; true when the caller should stop (the session
  // ended, or the role was withdrawn meanwhile).
  function stopped(r) {
    if (r.status === 401) {
      page.sessionExpired();
      return true;
    }
    if (r.status === 403 && r.data && r.data.error === 'forbidden') {
      clear();
      return true;
    }
    return false;
  }

  // ---- Accounts --------------------------------------------------------------

  async function loadUsers(fresh) {
    let path = 'api/admin/users?limit=' + kPageSize;
    if (state.query) path += '&search=' + encodeURIComponent(state.query);
    if (!fresh && state.cursor) path += '&cursor=' + encodeURIComponent(state.cursor);
    const r = await page.api('GET', path);
    if (stopped(r)) return;
    if (!r.ok || !r.data || !Array.isArray(r.data.users)) {
      page.setMessage(ui.alert, 'Could not load the accounts. ' + page.describeFailure(r), 'error');
      return;
    }
    state.users = fresh ? r.data.users : state.users.concat(r.data.users);
    state.cursor = typeof r.data.nextCursor === 'string' && r.data.nextCursor !== '' ? r.data.nextCursor : null;
    renderUsers();
  }

  function accountLabel(user) {
    return String(user.username || '');
  }

  function button(text, className, action, id, ariaLabel) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn btn-small ' + className;
    b.textContent = text;
    b.dataset.action = action;
    b.dataset.id = String(id);
    b.setAttribute('aria-label', ariaLabel);
    return b;
  }

  function badge(text, className) {
    const span = document.createElement('span');
    span.className = 'badge ' + (className || '');
    span.textContent = text;
    return span;
  }

  function renderUsers() {
    const users = state.users;
    ui.usersBody.textContent = '';
    ui.usersTable.hidden = users.length === 0;
    ui.usersEmpty.hidden = users.length !== 0;
    ui.usersEmpty.textContent = state.query ? 'No account matches “' + state.query + '”.' : 'There are no accounts.';
    ui.count.textContent = (users.length === 1 ? '1 account' : users.length + ' accounts') +
      (state.cursor ? ' shown, more follow' : '');
    ui.more.hidden = state.cursor === null;

    for (const user of users) {
      const tr = document.createElement('tr');
      tr.setAttribute('role', 'row');
      tr.dataset.userId = String(user.id);
      const name = accountLabel(user);

      const who = page.cell('Account', 'cell-name');
      const strong = document.createElement('span');
      strong.className = 'token-name admin-username';
      strong.textContent = name;
      who.appendChild(strong);
      if (user.displayName && user.displayName !== name) {
        const display = document.createElement('span');
        display.className = 'muted admin-display-name';
        display.textContent = ' ' + String(user.displayName);
        who.appendChild(display);
      }
      tr.appendChild(who);

      const email = page.cell('Email', 'cell-email');
      email.textContent = user.email ? String(user.email) : '—';
      tr.appendChild(email);

      const role = page.cell('Role', 'cell-role');
      role.appendChild(user.admin ? badge('Admin', 'badge-admin') : badge('User'));
      tr.appendChild(role);

      const st = page.cell('State', 'cell-state');
      st.appendChild(user.disabled ? badge('Disabled', 'badge-disabled') : badge('Active'));
      tr.appendChild(st);

      const actions = page.cell('Actions', 'cell-actions');
      actions.appendChild(button('Tokens', 'btn-secondary', 'tokens', user.id, 'Show the tokens of ' + name));
      const self = state.me && user.id === state.me.id;
      if (user.disabled) {
        actions.appendChild(button('Enable', 'btn-secondary', 'enable', user.id, 'Enable account ' + name));
      } else if (!self) {
        // The server refuses an admin disabling their own account (409).
        actions.appendChild(button('Disable', 'btn-danger-outline', 'disable', user.id, 'Disable account ' + name));
      }
      tr.appendChild(actions);
      ui.usersBody.appendChild(tr);
    }
  }

  function findUser(id) {
    return state.users.find(function (u) { return String(u.id) === id; }) || null;
  }

  async function setDisabled(user, disabled) {
    const name = accountLabel(user);
    const r = await page.api('POST', 'api/admin/users/' + encodeURIComponent(String(user.id)) +
      (disabled ? '/disable' : '/enable'));
    if (stopped(r)) return;
    if (!r.ok) {
      page.setMessage(ui.alert, 'The account was not changed. ' + page.describeFailure(r), 'error');
      return;
    }
    page.setMessage(ui.status, disabled
      ? 'Account “' + name + '” was disabled; its tokens and sessions were revoked.'
      : 'Account “' + name + '” was enabled. Its old tokens stay revoked.', 'success');
    if (r.data && r.data.user) {
      const i = state.users.findIndex(function (u) { return u.id === r.data.user.id; });
      if (i >= 0) state.users[i] = r.data.user;
    }
    renderUsers();
    if (state.account && state.account.id === user.id) await loadTokens();
  }

  function confirmAction(title, description, confirmLabel, run) {
    state.pending = { run: run };
    ui.dialogTitle.textContent = title;
    ui.dialogDesc.textContent = description;
    ui.dialogConfirm.textContent = confirmLabel;
    ui.dialog.returnValue = '';
    // Focus lands on Cancel, the first button: the safe choice is the default.
    ui.dialog.showModal();
  }

  async function onDialogClosed() {
    const pending = state.pending;
    state.pending = null;
    if (ui.dialog.returnValue !== 'confirm' || !pending) return;
    page.setMessage(ui.alert, '');
    page.setMessage(ui.status, '');
    await pending.run();
  }

  function onUsersClick(event) {
    const b = event.target.closest('button[data-action]');
    if (!b) return;
    const user = findUser(b.dataset.id);
    if (!user) return;
    const name = accountLabel(user);
    if (b.dataset.action === 'tokens') {
      openAccount(user);
    } else if (b.dataset.action === 'disable') {
      confirmAction('Disable account “' + name + '”?',
        'Its tokens and browser sessions are revoked at once, and it cannot sign in until an admin enables it again.',
        'Disable account', function () { return setDisabled(user, true); });
    } else if (b.dataset.action === 'enable') {
      setDisabled(user, false);
    }
  }

  // ---- One account's tokens ----------------------------------------------------

  async function openAccount(user) {
    state.account = user;
    ui.accountName.textContent = accountLabel(user);
    ui.account.hidden = false;
    await loadTokens();
    ui.accountTitle.focus();
  }

  async function loadTokens() {
    const user = state.account;
    if (!user) return;
    let tokens = [];
    let cursor = null;
    for (let n = 0; n < kMaxTokenPages; n++) {
      const r = await page.api('GET', 'api/admin/users/' + encodeURIComponent(String(user.id)) + '/tokens' +
        (cursor === null ? '' : '?cursor=' + encodeURIComponent(cursor)));
      if (stopped(r)) return;
      if (!r.ok || !r.data || !Array.isArray(r.data.tokens)) {
        page.setMessage(ui.alert, 'Could not load the tokens. ' + page.describeFailure(r), 'error');
        return;
      }
      tokens = tokens.concat(r.data.tokens);
      cursor = typeof r.data.nextCursor === 'string' && r.data.nextCursor !== '' ? r.data.nextCursor : null;
      if (cursor === null) break;
    }
    if (state.account !== user) return;  // another account was opened meanwhile
    state.tokens = tokens;
    renderTokens();
  }

  function tokenLabel(token) {
    return token.name && String(token.name).trim() !== '' ? String(token.name) : 'Unnamed token';
  }

  function renderTokens() {
    const tokens = state.tokens;
    ui.tokensBody.textContent = '';
    ui.tokensTable.hidden = tokens.length === 0;
    ui.tokensEmpty.hidden = tokens.length !== 0;
    for (const token of tokens) {
      const tr = document.createElement('tr');
      tr.setAttribute('role', 'row');
      tr.dataset.tokenId = String(token.id);
      const label = tokenLabel(token);

      const name = page.cell('Name', 'cell-name');
      const span = document.createElement('span');
      span.className = 'token-name';
      span.textContent = label;
      name.appendChild(span);
      tr.appendChild(name);

      const source = page.cell('Source', 'cell-source');
      source.appendChild(badge(token.source || 'unknown'));
      tr.appendChild(source);

      const created = page.cell('Created', 'cell-created');
      created.appendChild(page.timeNode(token.createdAt, 'Unknown', false));
      tr.appendChild(created);
      const expires = page.cell('Expires', 'cell-expires');
      expires.appendChild(page.timeNode(token.expiresOn, 'Never', true));
      tr.appendChild(expires);
      const used = page.cell('Last used', 'cell-used');
      used.appendChild(page.timeNode(token.lastUsedAt, 'Never used', true));
      tr.appendChild(used);

      const actions = page.cell('Actions', 'cell-actions');
      actions.appendChild(button('Revoke', 'btn-danger-outline', 'revoke', token.id, 'Revoke token ' + label));
      tr.appendChild(actions);
      ui.tokensBody.appendChild(tr);
    }
  }

  async function revokeToken(token) {
    const label = tokenLabel(token);
    const r = await page.api('DELETE', 'api/admin/tokens/' + encodeURIComponent(String(token.id)));
    if (stopped(r)) return;
    if (r.ok) {
      page.setMessage(ui.status, 'Token “' + label + '” was revoked.', 'success');
    } else if (r.status === 404) {
      page.setMessage(ui.status, 'Token “' + label + '” no longer exists. The list has been refreshed.', 'info');
    } else {
      page.setMessage(ui.alert, 'The token was not revoked. ' + page.describeFailure(r), 'error');
      return;
    }
    await loadTokens();
  }

  function onTokensClick(event) {
    const b = event.target.closest('button[data-action="revoke"]');
    if (!b || !state.account) return;
    const token = state.tokens.find(function (t) { return String(t.id) === b.dataset.id; });
    if (!token) return;
    confirmAction('Revoke token “' + tokenLabel(token) + '” of ' + accountLabel(state.account) + '?',
      'Scripts and tools that use this token stop working immediately. This cannot be undone.',
      'Revoke token', function () { return revokeToken(token); });
  }

  // ---- Start -------------------------------------------------------------------

  ui.searchForm.addEventListener('submit', function (event) {
    event.preventDefault();
    state.query = ui.search.value.trim();
    state.cursor = null;
    loadUsers(true);
  });
  ui.more.addEventListener('click', function () { loadUsers(false); });
  ui.usersBody.addEventListener('click', onUsersClick);
  ui.tokensBody.addEventListener('click', onTokensClick);
  ui.dialog.addEventListener('close', onDialogClosed);
  ui.accountClose.addEventListener('click', function () {
    state.account = null;
    state.tokens = [];
    ui.tokensBody.textContent = '';
    ui.account.hidden = true;
    ui.title.focus();
  });
}());
