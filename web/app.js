// tokend web page: sign in, then create, copy, list and revoke API tokens.
//
// Plain JavaScript, no build step, no third-party code. It talks only to the
// same origin's JSON API (docs/api.md). The server's Content-Security-Policy
// forbids inline script and style, so everything here lives in this file and
// the page only changes classes, attributes and text, never innerHTML: token
// names and server messages are data, and textContent keeps them from ever
// being parsed as markup.
(function () {
  'use strict';

  const EXPIRED_MESSAGE = 'Your session has expired. Please sign in again.';
  const byId = (id) => document.getElementById(id);

  const ui = {
    account: byId('account'),
    accountName: byId('account-name'),
    accountUsername: byId('account-username'),
    signout: byId('signout'),
    announcer: byId('announcer'),
    views: {
      loading: byId('view-loading'),
      signin: byId('view-signin'),
      tokens: byId('view-tokens'),
    },
    signinTitle: byId('signin-title'),
    signinAlert: byId('signin-alert'),
    signinStatus: byId('signin-status'),
    signinForm: byId('signin-form'),
    signinSubmit: byId('signin-submit'),
    methodField: byId('method-field'),
    method: byId('method'),
    username: byId('username'),
    password: byId('password'),
    tokensTitle: byId('tokens-title'),
    tokensAlert: byId('tokens-alert'),
    tokensStatus: byId('tokens-status'),
    createForm: byId('create-form'),
    createSubmit: byId('create-submit'),
    tokenName: byId('token-name'),
    tokenNameError: byId('token-name-error'),
    tokenExpiry: byId('token-expiry'),
    scopeField: byId('scope-field'),
    scopeList: byId('scope-list'),
    scopesHeading: byId('scopes-heading'),
    newToken: byId('new-token'),
    newTokenName: byId('new-token-name'),
    newTokenValue: byId('new-token-value'),
    newTokenExpires: byId('new-token-expires'),
    copyToken: byId('copy-token'),
    copyStatus: byId('copy-status'),
    dismissToken: byId('dismiss-token'),
    listTitle: byId('list-title'),
    tokenCount: byId('token-count'),
    tokensEmpty: byId('tokens-empty'),
    tokensTable: byId('tokens-table'),
    tokensBody: byId('tokens-body'),
    timezoneNote: byId('timezone-note'),
    revokeDialog: byId('revoke-dialog'),
    revokeName: byId('revoke-name'),
    rotateDialog: byId('rotate-dialog'),
    rotateName: byId('rotate-name'),
  };

  const state = {
    view: 'loading',
    user: null,
    methods: [],
    scopes: [],
    tokens: [],
    pendingRevoke: null,
    pendingRotate: null,
    busy: false,
    copyTimer: 0,
  };

  // ---- API -----------------------------------------------------------------

  // One request to the API. Resolves (never rejects) to
  // {ok, status, data, retryAfter, network}: network is true when the server
  // could not be reached at all. Relative URLs keep the page working behind a
  // reverse proxy that mounts tokend under a path prefix.
  async function api(method, path, body) {
    const options = {
      method: method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'Accept': 'application/json' },
    };
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (err) {
      return { ok: false, status: 0, data: null, retryAfter: null, network: true };
    }
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (err) {
        data = null;  // not JSON (e.g. a proxy's error page): never shown raw
      }
    }
    return {
      ok: response.ok,
      status: response.status,
      data: data,
      retryAfter: response.headers.get('Retry-After'),
      network: false,
    };
  }

  // Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3).
  function retrySeconds(header) {
    if (!header) return 0;
    if (/^\s*\d+\s*$/.test(header)) return parseInt(header, 10);
    const when = Date.parse(header);
    if (Number.isNaN(when)) return 0;
    return Math.max(1, Math.ceil((when - Date.now()) / 1000));
  }

  // A sentence for a person describing a failed call; never raw JSON.
  function describeFailure(r) {
    if (r.network) return 'Cannot reach the server. Check your connection and try again.';
    if (r.status === 429) {
      const s = retrySeconds(r.retryAfter);
      if (s > 0) return 'Too many attempts, try again in ' + s + (s === 1 ? ' second.' : ' seconds.');
      return 'Too many attempts, try again later.';
    }
    if (r.status >= 500) {
      return 'The server could not complete the request (error ' + r.status + '). Please try again in a moment.';
    }
    if (r.data && typeof r.data.message === 'string' && r.data.message.trim() !== '') {
      return r.data.message;
    }
    return 'The request failed (error ' + r.status + '). Please try again.';
  }

  // ---- Messages ------------------------------------------------------------

  // Live regions stay in the DOM (empty) so that screen readers announce what
  // is put into them; the visible notice is a child element.
  function setMessage(region, text, kind) {
    region.textContent = '';
    if (!text) return;
    const p = document.createElement('p');
    p.className = 'notice notice-' + (kind || 'info');
    p.textContent = text;
    region.appendChild(p);
  }

  function clearMessages() {
    setMessage(ui.signinAlert, '');
    setMessage(ui.signinStatus, '');
    setMessage(ui.tokensAlert, '');
    setMessage(ui.tokensStatus, '');
  }

  function announce(text) {
    // Clearing first makes a repeated message ("Copied") be announced again.
    ui.announcer.textContent = '';
    window.setTimeout(function () { ui.announcer.textContent = text; }, 50);
  }

  function setBusy(button, busy, busyLabel) {
    state.busy = busy;
    if (busy) {
      button.dataset.label = button.textContent;
      button.textContent = busyLabel;
      button.setAttribute('aria-disabled', 'true');
    } else {
      if (button.dataset.label) button.textContent = button.dataset.label;
      button.removeAttribute('aria-disabled');
    }
  }

  // ---- Dates ---------------------------------------------------------------

  // Month names (not 03/04) keep dates unambiguous in every locale.
  const dateFormat = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  });
  // "in 3 months" is a phrase of the page's own language, not a date format.
  const relativeFormat = typeof Intl.RelativeTimeFormat === 'function'
    ? new Intl.RelativeTimeFormat(document.documentElement.lang || 'en', { numeric: 'auto' })
    : null;

  // {never: true} for the far-future "does not expire" sentinel (the server
  // prints years beyond 9999 in full, e.g. "292278994-08-17T07:12:55.807Z",
  // which Date cannot parse); {date} otherwise; {date: null} if unreadable.
  function parseTime(iso) {
    if (typeof iso !== 'string') return { date: null };
    const year = /^([+-]?\d{4,})-/.exec(iso);
    if (year && parseInt(year[1], 10) > 9999) return { never: true };
    const date = new Date(iso);
    return { date: Number.isNaN(date.getTime()) ? null : date };
  }

  function relative(date) {
    if (!relativeFormat) return '';
    const seconds = (date.getTime() - Date.now()) / 1000;
    const abs = Math.abs(seconds);
    const units = [
      [60, 'second', 1], [3600, 'minute', 60], [86400, 'hour', 3600],
      [86400 * 30, 'day', 86400], [86400 * 365, 'month', 86400 * 30], [Infinity, 'year', 86400 * 365],
    ];
    for (const [limit, unit, size] of units) {
      if (abs < limit) {
        if (unit === 'second') return relativeFormat.format(0, 'minute');
        return relativeFormat.format(Math.round(seconds / size), unit);
      }
    }
    return '';
  }

  // A <time> element for a table cell, or the `fallback` text.
  function timeNode(iso, fallback, withRelative) {
    const parsed = parseTime(iso);
    if (parsed.never || !iso) {
      const span = document.createElement('span');
      span.className = 'muted';
      span.textContent = fallback;
      return span;
    }
    if (!parsed.date) {
      const span = document.createElement('span');
      span.textContent = iso;
      return span;
    }
    const wrap = document.createElement('span');
    wrap.className = 'date';
    const t = document.createElement('time');
    t.dateTime = parsed.date.toISOString();
    t.title = parsed.date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
    t.textContent = dateFormat.format(parsed.date);
    wrap.appendChild(t);
    if (withRelative) {
      const rel = relative(parsed.date);
      if (rel) {
        const r = document.createElement('span');
        r.className = 'date-rel';
        r.textContent = rel;
        wrap.appendChild(r);
      }
    }
    return wrap;
  }

  function timeText(iso, fallback) {
    const parsed = parseTime(iso);
    if (parsed.never || !iso) return fallback;
    return parsed.date ? dateFormat.format(parsed.date) : iso;
  }

  // ---- Views ---------------------------------------------------------------

  function showView(name) {
    state.view = name;
    for (const key of Object.keys(ui.views)) ui.views[key].hidden = key !== name;
    ui.account.hidden = name !== 'tokens';
  }

  // Forgets everything about the signed-in person, including any token still
  // on screen: after sign-out or expiry nothing of the old session remains.
  function forgetSession() {
    state.user = null;
    state.tokens = [];
    state.pendingRevoke = null;
    if (ui.revokeDialog.open) ui.revokeDialog.close('cancel');
    state.pendingRotate = null;
    if (ui.rotateDialog.open) ui.rotateDialog.close('cancel');
    hideNewToken();
    ui.tokensBody.textContent = '';
    ui.accountName.textContent = '';
    ui.accountUsername.textContent = '';
    ui.tokenName.value = '';
    clearFieldError();
    notifyExtensions('signout');
  }

  function showSignin(message, kind) {
    forgetSession();
    clearMessages();
    ui.password.value = '';
    ui.username.removeAttribute('aria-invalid');
    ui.password.removeAttribute('aria-invalid');
    showView('signin');
    if (message) setMessage(kind === 'status' ? ui.signinStatus : ui.signinAlert, message, kind === 'status' ? 'success' : 'info');
    ui.username.focus();
  }

  function sessionExpired() {
    if (state.view !== 'tokens') return;  // several calls may notice at once
    showSignin(EXPIRED_MESSAGE);
  }

  function showTokens(session) {
    state.user = session.user || {};
    const display = state.user.displayName || state.user.username || '';
    ui.accountName.textContent = display;
    ui.accountUsername.textContent =
      state.user.username && state.user.username !== display ? '(' + state.user.username + ')' : '';
    clearMessages();
    showView('tokens');
    notifyExtensions('session');
  }

  // ---- Sign-in -------------------------------------------------------------

  async function loadMethods() {
    const r = await api('GET', 'api/login/methods');
    const methods = r.ok && r.data && Array.isArray(r.data.methods) ? r.data.methods : [];
    state.methods = methods.filter(function (m) { return m && typeof m.name === 'string'; });
    ui.method.textContent = '';
    for (const m of state.methods) {
      const option = document.createElement('option');
      option.value = m.name;
      option.textContent = m.label || m.name;
      ui.method.appendChild(option);
    }
    // A picker with one choice is noise: show it only when there is a choice.
    ui.methodField.hidden = state.methods.length < 2;
  }

  // ---- Scopes --------------------------------------------------------------

  // The scopes the server declares (GET /api/scopes): one checkbox each,
  // the defaults checked. Without declared scopes the page looks as before.
  async function loadScopes() {
    const r = await api('GET', 'api/scopes');
    const scopes = r.ok && r.data && Array.isArray(r.data.scopes) ? r.data.scopes : [];
    state.scopes = scopes.filter(function (s) { return s && typeof s.name === 'string'; });
    ui.scopeList.textContent = '';
    state.scopes.forEach(function (s, i) {
      const label = document.createElement('label');
      label.className = 'scope-option';
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.name = 'scope';
      box.value = s.name;
      box.id = 'scope-' + i;
      box.checked = s.default === true;
      box.dataset.default = s.default === true ? 'true' : 'false';
      label.appendChild(box);
      const name = document.createElement('code');
      name.textContent = s.name;
      label.appendChild(name);
      if (typeof s.description === 'string' && s.description !== '') {
        const description = document.createElement('span');
        description.className = 'muted scope-description';
        description.textContent = s.description;
        label.appendChild(description);
      }
      ui.scopeList.appendChild(label);
    });
    ui.scopeField.hidden = state.scopes.length === 0;
    ui.scopesHeading.hidden = state.scopes.length === 0;
    if (state.tokens.length) renderTokens();
  }

  function checkedScopes() {
    return Array.from(ui.scopeList.querySelectorAll('input[type=checkbox]'))
      .filter(function (box) { return box.checked; })
      .map(function (box) { return box.value; });
  }

  function resetScopes() {
    for (const box of ui.scopeList.querySelectorAll('input[type=checkbox]')) {
      box.checked = box.dataset.default === 'true';
    }
  }

  async function onSignin(event) {
    event.preventDefault();
    if (state.busy) return;
    clearMessages();
    const username = ui.username.value.trim();
    const password = ui.password.value;
    ui.username.setAttribute('aria-invalid', String(username === ''));
    ui.password.setAttribute('aria-invalid', String(password === ''));
    if (username === '' || password === '') {
      setMessage(ui.signinAlert, username === '' && password === ''
        ? 'Enter your username and password.'
        : username === '' ? 'Enter your username.' : 'Enter your password.', 'error');
      (username === '' ? ui.username : ui.password).focus();
      return;
    }
    ui.username.removeAttribute('aria-invalid');
    ui.password.removeAttribute('aria-invalid');

    const body = { username: username, password: password };
    if (state.methods.length > 0 && ui.method.value) body.method = ui.method.value;

    setBusy(ui.signinSubmit, true, 'Signing in…');
    const r = await api('POST', 'api/login', body);
    setBusy(ui.signinSubmit, false);

    if (r.ok) {
      ui.password.value = '';
      await enterSession(true);
      return;
    }
    let message;
    if (r.status === 401) message = 'Wrong username or password.';
    else if (r.status === 400 && r.data && r.data.error === 'missing_field') message = 'Enter your username and password.';
    else message = describeFailure(r);
    setMessage(ui.signinAlert, message, 'error');
    if (r.status === 401) {
      ui.password.value = '';
      ui.password.setAttribute('aria-invalid', 'true');
      ui.password.focus();
    }
  }

  // Asks the server who is signed in and shows the matching screen.
  async function enterSession(afterLogin) {
    const r = await api('GET', 'api/session');
    if (r.ok && r.data) {
      showTokens(r.data);
      ui.tokensTitle.focus();
      await loadTokens();
      return;
    }
    if (r.status === 401) {
      showSignin(afterLogin
        ? 'You were signed in, but the browser did not keep the session cookie. Check that cookies are allowed for this site.'
        : '');
      return;
    }
    showSignin();
    setMessage(ui.signinAlert, describeFailure(r), 'error');
  }

  async function onSignout() {
    if (state.busy) return;
    setBusy(ui.signout, true, 'Signing out…');
    const r = await api('POST', 'api/logout');
    setBusy(ui.signout, false);
    if (r.ok || r.status === 401) {
      showSignin('You have signed out.', 'status');
      return;
    }
    setMessage(ui.tokensAlert, describeFailure(r), 'error');
  }

  // ---- Tokens --------------------------------------------------------------

  // The list is paged (GET /api/tokens answers nextCursor while more
  // follow): fetch every page, newest first, up to a bound so that a
  // misbehaving server cannot keep the page looping.
  const kMaxTokenPages = 50;

  async function loadTokens() {
    let tokens = [];
    let cursor = null;
    for (let page = 0; page < kMaxTokenPages; page++) {
      const r = await api('GET', cursor === null ? 'api/tokens' : 'api/tokens?cursor=' + encodeURIComponent(cursor));
      if (r.status === 401) return sessionExpired();
      if (!r.ok || !r.data || !Array.isArray(r.data.tokens)) {
        setMessage(ui.tokensAlert, 'Could not load your tokens. ' + describeFailure(r), 'error');
        return;
      }
      tokens = tokens.concat(r.data.tokens);
      cursor = typeof r.data.nextCursor === 'string' && r.data.nextCursor !== '' ? r.data.nextCursor : null;
      if (cursor === null) break;
    }
    state.tokens = tokens;
    renderTokens();
  }

  function cell(label, className) {
    const td = document.createElement('td');
    // Explicit roles: the narrow layout sets display:block, which makes some
    // browsers drop the implicit table semantics.
    td.setAttribute('role', 'cell');
    td.dataset.label = label;
    if (className) td.className = className;
    return td;
  }

  function tokenLabel(token) {
    return token.name && String(token.name).trim() !== '' ? String(token.name) : '';
  }

  function renderTokens() {
    const tokens = state.tokens;
    ui.tokensBody.textContent = '';
    ui.tokensTable.hidden = tokens.length === 0;
    ui.tokensEmpty.hidden = tokens.length !== 0;
    ui.tokenCount.textContent = tokens.length === 1 ? '1 active token' : tokens.length + ' active tokens';

    for (const token of tokens) {
      const tr = document.createElement('tr');
      tr.setAttribute('role', 'row');
      tr.dataset.tokenId = String(token.id);

      const name = cell('Name', 'cell-name');
      const nameSpan = document.createElement('span');
      const label = tokenLabel(token);
      nameSpan.className = label ? 'token-name' : 'token-name token-unnamed';
      nameSpan.textContent = label || 'Unnamed token';
      name.appendChild(nameSpan);
      tr.appendChild(name);

      const source = cell('Source', 'cell-source');
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = token.source || 'unknown';
      source.appendChild(badge);
      tr.appendChild(source);

      if (state.scopes.length) {
        const scopes = cell('Scopes', 'cell-scopes');
        const list = Array.isArray(token.scopes) ? token.scopes : [];
        if (list.length === 0) {
          const none = document.createElement('span');
          none.className = 'muted';
          none.textContent = 'None';
          scopes.appendChild(none);
        }
        for (const name of list) {
          const tag = document.createElement('code');
          tag.className = 'scope-tag';
          tag.textContent = String(name);
          scopes.appendChild(tag);
        }
        tr.appendChild(scopes);
      }

      const created = cell('Created', 'cell-created');
      created.appendChild(timeNode(token.createdAt, 'Unknown', false));
      tr.appendChild(created);

      const expires = cell('Expires', 'cell-expires');
      expires.appendChild(timeNode(token.expiresOn, 'Never', true));
      tr.appendChild(expires);

      const used = cell('Last used', 'cell-used');
      used.appendChild(timeNode(token.lastUsedAt, 'Never used', true));
      tr.appendChild(used);

      const actions = cell('Actions', 'cell-actions');
      const revoke = document.createElement('button');
      revoke.type = 'button';
      revoke.className = 'btn btn-danger-outline btn-small revoke';
      revoke.textContent = 'Revoke';
      revoke.dataset.tokenId = String(token.id);
      revoke.setAttribute('aria-label', 'Revoke token ' + (label || 'Unnamed token'));
      actions.appendChild(rotateButton(token, label));
      actions.appendChild(revoke);
      tr.appendChild(actions);

      ui.tokensBody.appendChild(tr);
    }
  }

  function clearFieldError() {
    ui.tokenNameError.hidden = true;
    ui.tokenNameError.textContent = '';
    ui.tokenName.removeAttribute('aria-invalid');
  }

  async function onCreate(event) {
    event.preventDefault();
    if (state.busy) return;
    clearMessages();
    clearFieldError();
    const name = ui.tokenName.value.trim();
    if (name === '') {
      ui.tokenNameError.textContent = 'Enter a name for the token.';
      ui.tokenNameError.hidden = false;
      ui.tokenName.setAttribute('aria-invalid', 'true');
      ui.tokenName.focus();
      return;
    }
    setBusy(ui.createSubmit, true, 'Creating…');
    const body = Object.assign({ name: name }, lifetimeField(ui.tokenExpiry.value));
    // Only when the server declares scopes: an older server would not know
    // the field, and an empty list is a real choice ("no scope").
    if (state.scopes.length) body.scopes = checkedScopes();
    const r = await api('POST', 'api/token', body);
    setBusy(ui.createSubmit, false);

    if (r.status === 401) return sessionExpired();
    if (r.status === 400 && r.data && r.data.field === 'expiresInSeconds') {
      // Outside the server's tokens.min_lifetime..max_lifetime: the bounds
      // come as fields, never only in the English message.
      setMessage(ui.tokensAlert, 'This server does not allow that expiry' + secondsRange(r.data) +
        '. Pick another one.', 'error');
      ui.tokenExpiry.focus();
      return;
    }
    if (r.status === 400 && r.data && r.data.field === 'expiresInDays') {
      // The server's cap (tokens.max_lifetime_days) is shorter than the choice;
      // the server says it in maxDays, never only in the English message.
      const max = r.data.maxDays;
      setMessage(ui.tokensAlert, 'This server does not allow tokens to live that long' +
        (Number.isInteger(max) ? ' (at most ' + max + ' days)' : '') + '. Pick a shorter expiry.', 'error');
      ui.tokenExpiry.focus();
      return;
    }
    if (!r.ok || !r.data || typeof r.data.token !== 'string') {
      setMessage(ui.tokensAlert, 'The token was not created. ' + describeFailure(r), 'error');
      return;
    }
    ui.tokenName.value = '';
    resetScopes();
    showNewToken(name, r.data.token, r.data.expiresOn);
    await loadTokens();
    if (state.view !== 'tokens') return;
    ui.copyToken.focus();
    announce('Token created. Copy it now: it will not be shown again.');
  }

  function showNewToken(name, token, expiresOn) {
    ui.newTokenName.textContent = name;
    ui.newTokenValue.value = token;
    ui.newTokenExpires.textContent = timeText(expiresOn, 'Never');
    resetCopyButton();
    ui.newToken.hidden = false;
  }

  function hideNewToken() {
    ui.newToken.hidden = true;
    // The value leaves the DOM too, so it really is shown only once.
    ui.newTokenValue.value = '';
    ui.newTokenName.textContent = '';
    resetCopyButton();
  }

  function resetCopyButton() {
    window.clearTimeout(state.copyTimer);
    ui.copyToken.textContent = 'Copy token';
    ui.copyStatus.textContent = '';
  }

  async function onCopy() {
    const text = ui.newTokenValue.value;
    if (!text) return;
    let copied = false;
    // The async clipboard API needs a secure context (HTTPS or localhost).
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        copied = true;
      } catch (err) {
        copied = false;
      }
    }
    if (!copied) {
      // Fallback for plain-HTTP deployments: copy the selected text.
      ui.newTokenValue.focus();
      ui.newTokenValue.select();
      try {
        copied = document.execCommand('copy');
      } catch (err) {
        copied = false;
      }
    }
    window.clearTimeout(state.copyTimer);
    if (copied) {
      ui.copyToken.textContent = 'Copied';
      ui.copyStatus.textContent = 'Copied to the clipboard.';
      announce('Token copied to the clipboard.');
      ui.copyToken.focus();
      state.copyTimer = window.setTimeout(resetCopyButton, 4000);
    } else {
      ui.newTokenValue.focus();
      ui.newTokenValue.select();
      ui.copyStatus.textContent = 'Press Ctrl+C (⌘C on a Mac) to copy the selected token.';
      announce('Could not copy automatically. The token is selected: press Control C to copy it.');
    }
  }

  function onDismiss() {
    hideNewToken();
    ui.tokenName.focus();
  }

  // ---- Lifetimes -----------------------------------------------------------

  // The request field of an expiry choice: "600s" is a lifetime in seconds
  // (expiresInSeconds, for short-lived tokens), a plain number is days.
  function lifetimeField(value) {
    const text = String(value);
    if (/^[0-9]+s$/.test(text)) return { expiresInSeconds: parseInt(text, 10) };
    return { expiresInDays: parseInt(text, 10) };
  }

  function duration(seconds) {
    if (seconds % 86400 === 0) return seconds / 86400 + (seconds === 86400 ? ' day' : ' days');
    if (seconds % 3600 === 0) return seconds / 3600 + (seconds === 3600 ? ' hour' : ' hours');
    if (seconds % 60 === 0) return seconds / 60 + (seconds === 60 ? ' minute' : ' minutes');
    return seconds + ' seconds';
  }

  function secondsRange(data) {
    const min = data.minSeconds;
    const max = data.maxSeconds;
    if (!Number.isInteger(min) || !Number.isInteger(max)) return '';
    return ' (from ' + duration(min) + ' to ' + duration(max) + ')';
  }

  // ---- Rotate --------------------------------------------------------------

  function rotateButton(token, label) {
    const rotate = document.createElement('button');
    rotate.type = 'button';
    rotate.className = 'btn btn-secondary btn-small rotate';
    rotate.textContent = 'Rotate';
    rotate.dataset.tokenId = String(token.id);
    rotate.setAttribute('aria-label', 'Rotate token ' + (label || 'Unnamed token'));
    return rotate;
  }

  function onRotateClick(button) {
    const id = button.dataset.tokenId;
    const token = state.tokens.find(function (t) { return String(t.id) === id; });
    if (!token) return;
    state.pendingRotate = token;
    ui.rotateName.textContent = tokenLabel(token) || 'Unnamed token';
    ui.rotateDialog.returnValue = '';
    // Focus starts on Cancel, as for revoking: the safe choice is the default.
    ui.rotateDialog.showModal();
  }

  async function onRotateClosed() {
    const token = state.pendingRotate;
    state.pendingRotate = null;
    if (ui.rotateDialog.returnValue !== 'rotate' || !token) return;
    clearMessages();
    const label = tokenLabel(token) || 'Unnamed token';
    const r = await api('POST', 'api/tokens/' + encodeURIComponent(String(token.id)) + '/rotate', {});
    if (r.status === 401) return sessionExpired();
    if (r.status === 404) {
      setMessage(ui.tokensStatus, 'Token “' + label + '” no longer exists. The list has been refreshed.', 'info');
      await loadTokens();
      return;
    }
    if (!r.ok || !r.data || typeof r.data.token !== 'string') {
      setMessage(ui.tokensAlert, 'The token was not rotated. ' + describeFailure(r), 'error');
      return;
    }
    // Shown once, like a new token.
    showNewToken(label, r.data.token, r.data.expiresOn);
    await loadTokens();
    if (state.view !== 'tokens') return;
    ui.copyToken.focus();
    announce('Token rotated. Copy the new token now: it will not be shown again. The old one no longer works.');
  }

  // ---- Revoke --------------------------------------------------------------

  function onTableClick(event) {
    const rotate = event.target.closest('button.rotate');
    if (rotate) return onRotateClick(rotate);
    const button = event.target.closest('button.revoke');
    if (!button) return;
    const id = button.dataset.tokenId;
    const token = state.tokens.find(function (t) { return String(t.id) === id; });
    if (!token) return;
    state.pendingRevoke = token;
    ui.revokeName.textContent = tokenLabel(token) || 'Unnamed token';
    ui.revokeDialog.returnValue = '';
    // A modal <dialog> traps focus, closes on Escape, and puts focus on its
    // first button (Cancel), so the safe choice is the default.
    ui.revokeDialog.showModal();
  }

  async function onRevokeClosed() {
    const token = state.pendingRevoke;
    state.pendingRevoke = null;
    if (ui.revokeDialog.returnValue !== 'revoke' || !token) return;
    clearMessages();
    const label = tokenLabel(token) || 'Unnamed token';
    const r = await api('DELETE', 'api/tokens/' + encodeURIComponent(String(token.id)));
    if (r.status === 401) return sessionExpired();
    if (r.ok) {
      setMessage(ui.tokensStatus, 'Token “' + label + '” was revoked.', 'success');
    } else if (r.status === 404) {
      setMessage(ui.tokensStatus, 'Token “' + label + '” no longer exists. The list has been refreshed.', 'info');
    } else {
      setMessage(ui.tokensAlert, 'The token was not revoked. ' + describeFailure(r), 'error');
      return;
    }
    await loadTokens();
    if (state.view === 'tokens') ui.listTitle.focus();
  }

  // ---- Extensions (web/admin.js) ---------------------------------------------

  // Other scripts of the page (the admin view) learn who is signed in through
  // onChange ('session' with the user from GET /api/session, 'signout') and
  // reuse the helpers, so that errors read the same everywhere. What they
  // show, the server checks again: nothing here grants anything.
  const extensionListeners = [];

  function notifyExtensions(event) {
    for (const listener of extensionListeners) listener(event, state.user);
  }

  window.tokendPage = Object.freeze({
    api: api,
    describeFailure: describeFailure,
    setMessage: setMessage,
    announce: announce,
    timeNode: timeNode,
    cell: cell,
    sessionExpired: function () { sessionExpired(); },
    onChange: function (listener) {
      extensionListeners.push(listener);
      if (state.user) listener('session', state.user);
    },
  });

  // ---- Start ---------------------------------------------------------------

  function start() {
    ui.signinForm.addEventListener('submit', onSignin);
    ui.createForm.addEventListener('submit', onCreate);
    ui.tokenName.addEventListener('input', function () {
      if (ui.tokenName.value.trim() !== '') clearFieldError();
    });
    ui.copyToken.addEventListener('click', onCopy);
    ui.dismissToken.addEventListener('click', onDismiss);
    ui.signout.addEventListener('click', onSignout);
    ui.tokensBody.addEventListener('click', onTableClick);
    ui.revokeDialog.addEventListener('close', onRevokeClosed);
    ui.rotateDialog.addEventListener('close', onRotateClosed);

    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone === 'UTC' || zone === 'Etc/UTC') {
      ui.timezoneNote.textContent = 'Times are shown in UTC.';
    } else {
      ui.timezoneNote.textContent = zone
        ? 'Times are shown in your time zone (' + zone + '). Hover over a time to see it in UTC.'
        : 'Times are shown in your time zone. Hover over a time to see it in UTC.';
    }

    // A session can end while the tab sits in the background (idle timeout,
    // sign-out elsewhere): check again when the person comes back to it.
    document.addEventListener('visibilitychange', async function () {
      if (document.visibilityState !== 'visible' || state.view !== 'tokens') return;
      const r = await api('GET', 'api/session');
      if (r.status === 401) sessionExpired();
    });

    loadMethods();
    loadScopes();
    enterSession(false);
  }

  start();
}());
