// voicegate call review: sign in, find calls, open one (with a reason), read its transcript and
// audit trail, and hear it with a two-channel level view and a transcript that follows playback.
//
// No build step, no frameworks, no external resources. The page runs under a strict CSP
// (script-src 'self', style-src 'self', connect-src 'self'), so: no inline handlers or styles, no
// eval, and every request goes to our own origin (except <audio> playing a presigned https URL).
// PHI rule: transcript text, reasons and patient references are shown, never logged, and never
// put in the URL: the only thing that goes in the hash is a call id (#/calls/<call_id>).
'use strict';

(() => {
  // The API sits next to the page (/review/ → /review/api), wherever the server mounts it.
  const API = new URL('api', document.currentScript ? document.currentScript.src : document.baseURI).pathname;
  const SESSION_ENDED = 'Your session has ended; please sign in again.';
  const PAGE_SIZE = 50;
  const LEVEL_BINS = 1200; // resolution of the level strips (redrawn to any canvas width)
  const WARN_BEFORE_IDLE_MS = 60 * 1000;
  const SEEK_STEP_S = 5;
  // Levels need no fidelity: decode at a low rate so a long 24 kHz call stays small in memory,
  // and do not try at all beyond an hour (the recording still plays).
  const LEVEL_DECODE_RATE = 4000;
  const LEVEL_MAX_DURATION_MS = 60 * 60 * 1000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    nav: $('nav'), navCalls: $('nav-calls'), navQueue: $('nav-queue'),
    sessionBox: $('session-box'), signedInAs: $('signed-in-as'), idleNote: $('idle-note'), signOut: $('sign-out'),
    idleWarning: $('idle-warning'), idleWarningText: $('idle-warning-text'), staySignedIn: $('stay-signed-in'),
    main: $('main'), status: $('status'), error: $('error'),
    loginView: $('login-view'), loginForm: $('login-form'), loginMessage: $('login-message'),
    loginUser: $('login-username'), loginPassword: $('login-password'), loginError: $('login-error'), loginSubmit: $('login-submit'),
    callsView: $('calls-view'), filters: $('filters'), filterError: $('filter-error'), clearFilters: $('clear-filters'),
    fFrom: $('f-from'), fTo: $('f-to'), fTransport: $('f-transport'), fOutcome: $('f-outcome'),
    fVerified: $('f-verified'), fEmergency: $('f-emergency'), fPatient: $('f-patient'),
    callsTable: $('calls-table'), callsBody: document.querySelector('#calls-table tbody'), callsSummary: $('calls-summary'),
    prevPage: $('prev-page'), nextPage: $('next-page'), pageLabel: $('page-label'),
    auditTools: $('audit-tools'), verifyChain: $('verify-chain'), verifyResult: $('verify-result'),
    detailView: $('detail-view'), detailHeading: $('detail-heading'), detailReason: $('detail-reason'),
    callSummary: $('call-summary'), legalHold: $('legal-hold'), exportAudit: $('export-audit'),
    recordingNote: $('recording-note'), player: $('player'), play: $('play'), playTime: $('play-time'), audio: $('audio'),
    waveform: $('waveform'), waveformNote: $('waveform-note'), strips: $('strips'), waveformLegend: $('waveform-legend'),
    transcript: $('transcript'), toolsBody: document.querySelector('#tools-table tbody'), toolsTable: $('tools-table'),
    toolsEmpty: $('tools-empty'),
    notificationsBody: document.querySelector('#notifications-table tbody'), notificationsTable: $('notifications-table'),
    notificationsEmpty: $('notifications-empty'), truncations: $('truncations'), truncEmpty: $('trunc-empty'),
    chainStatus: $('chain-status'), auditBody: document.querySelector('#audit-table tbody'),
    queueView: $('queue-view'), queueRefresh: $('queue-refresh'),
    callbacksBody: document.querySelector('#callbacks-table tbody'), callbacksTable: $('callbacks-table'), callbacksEmpty: $('callbacks-empty'),
    lockoutsBody: document.querySelector('#lockouts-table tbody'), lockoutsTable: $('lockouts-table'), lockoutsEmpty: $('lockouts-empty'),
    dialog: $('reason-dialog'), reasonForm: $('reason-form'), reasonTitle: $('reason-title'), reasonDesc: $('reason-desc'),
    reasonInput: $('reason-input'), reasonError: $('reason-error'), reasonCancel: $('reason-cancel'), reasonSubmit: $('reason-submit'),
  };

  const state = {
    session: null, // {user:{staff_id,username,role}, csrf, idle_timeout_secs}
    list: { query: {}, cursors: [null], page: 0, nextCursor: null, loads: 0, seq: 0 },
    detail: null, // the CallDetail on screen
    callId: null,
    reason: null, // the reason given when opening this call; reused for playback (same purpose)
    detailSeq: 0, // guards against a slow response for a call the user has already left
    playback: null, // {url, expires_at_ms}
    levels: null, // {channels:[Float32Array], duration}
    timeline: [], // transcript lines with a position: {start, li}, in recording order
    currentLine: null,
    raf: 0,
    idle: { warnTimer: 0, endTimer: 0 },
  };

  // ---------------------------------------------------------------------------------------------
  // Formatting

  const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  const fmtDateTime = (ms) => (typeof ms === 'number' ? dateTimeFmt.format(new Date(ms)) : '—');

  /** Seconds → "m:ss" (or "h:mm:ss"), for positions in a recording. */
  function fmtClock(sec) {
    if (!Number.isFinite(sec) || sec < 0) sec = 0;
    const s = Math.floor(sec);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, '0');
    return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
  }
  const fmtMs = (ms) => (typeof ms === 'number' ? fmtClock(ms / 1000) : '—');
  const yesNo = (b) => (b ? 'Yes' : 'No');
  const TRANSPORTS = { twilio: 'Phone (twilio)', browser: 'Browser' };
  const fmtTransport = (t) => TRANSPORTS[t] || t || '—';
  const SPEAKERS = { caller: 'Caller', agent: 'Agent', system: 'System' };
  const speakerLabel = (s) => SPEAKERS[s] || (s ? s[0].toUpperCase() + s.slice(1) : 'Unknown');

  /** One-line summary of an audit actor. The store serialises the enum internally tagged
   * ({"kind":"staff","user_id":…}); an externally tagged form ({"staff":{…}}) is accepted too. */
  function fmtActor(actor) {
    if (!actor || typeof actor !== 'object') return actor == null ? '—' : String(actor);
    let kind;
    let fields;
    if (typeof actor.kind === 'string') {
      kind = actor.kind;
      fields = actor;
    } else {
      const keys = Object.keys(actor);
      if (keys.length !== 1) return JSON.stringify(actor);
      kind = keys[0];
      fields = actor[kind] && typeof actor[kind] === 'object' ? actor[kind] : { value: actor[kind] };
    }
    // The identifying field of each actor kind, most useful first.
    const id = ['user_id', 'staff_id', 'os_user', 'job', 'call_id', 'value'].map((k) => fields[k]).find((v) => v != null && v !== '');
    const extra = kind === 'cli' && fields.staff_id ? ` (staff ${fields.staff_id})` : '';
    return id != null ? `${kind}: ${id}${extra}` : kind;
  }

  const minutes = (secs) => (secs % 60 === 0 ? `${secs / 60} minute${secs === 60 ? '' : 's'}` : `${Math.round(secs)} seconds`);

  /** Create an element with text content (never innerHTML: every value here is untrusted). */
  function el(tag, opts = {}, children = []) {
    const e = document.createElement(tag);
    if (opts.className) e.className = opts.className;
    if (opts.text != null) e.textContent = opts.text;
    if (opts.attrs) for (const [k, v] of Object.entries(opts.attrs)) if (v != null) e.setAttribute(k, v);
    if (opts.on) for (const [k, v] of Object.entries(opts.on)) e.addEventListener(k, v);
    for (const c of children) if (c) e.append(c);
    return e;
  }
  const td = (text, className) => el('td', { text, className });

  // ---------------------------------------------------------------------------------------------
  // Messages

  function setStatus(text) { ui.status.textContent = text || ''; }
  function setError(text) { ui.error.textContent = text || ''; }
  function clearMessages() { setStatus(''); setError(''); }

  /** Show a failed request's message, unless it was a session end (already handled). */
  function reportError(err, prefix) {
    if (err && err.handled) return;
    setStatus('');
    setError(prefix ? `${prefix}: ${err.message}` : err.message);
  }

  // ---------------------------------------------------------------------------------------------
  // API

  class ApiError extends Error {
    constructor(status, message, handled = false, body = null) {
      super(message);
      this.status = status;
      this.handled = handled;
      this.body = body; // the JSON answer, when there was one (409s say what would let it through)
    }
  }

  function messageFor(status, body) {
    const server = body && typeof body.error === 'string' ? body.error : '';
    switch (status) {
      case 400: return server ? `The request was refused: ${server}.` : 'The request was refused as invalid.';
      case 403: return server ? `Not allowed: ${server}.` : 'Your role does not allow this.';
      case 404: return server ? `Not found: ${server}.` : 'Not found (it may have been removed or already handled).';
      case 429: return 'Too many attempts; wait a few minutes and try again.';
      default:
        if (status >= 500) return `The server had a problem (${status}${server ? `: ${server}` : ''}). Try again in a moment.`;
        return server || `Unexpected answer from the server (${status}).`;
    }
  }

  /**
   * Call the review API. POSTs carry the session's CSRF token and a JSON body. A 401 anywhere but
   * sign-in means the session is gone: return to the sign-in form (and throw a handled error).
   */
  async function api(method, path, body, opts = {}) {
    const headers = { Accept: 'application/json' };
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      if (state.session) headers['X-CSRF-Token'] = state.session.csrf;
      init.body = JSON.stringify(body || {});
    }
    let res;
    try {
      res = await fetch(API + path, init);
    } catch (_) {
      throw new ApiError(0, 'The server could not be reached. Check the connection and try again.');
    }
    if (res.status === 401 && !opts.allow401) {
      endSession(SESSION_ENDED);
      throw new ApiError(401, SESSION_ENDED, true);
    }
    // Any answer from the server (other than 401) restarts its idle clock, so restart ours.
    if (res.status !== 401 && state.session) restartIdleTimer();
    let data = null;
    if (res.status !== 204) {
      const text = await res.text();
      if (text) {
        try { data = JSON.parse(text); } catch (_) { data = null; }
      }
    }
    if (!res.ok) throw new ApiError(res.status, messageFor(res.status, data), false, data);
    return data;
  }

  const enc = encodeURIComponent;

  // ---------------------------------------------------------------------------------------------
  // Reason dialog: one modal for every "why?" (native <dialog>: focus trap, Escape, inert page).

  let reasonPending = null; // {resolve, opener}

  /** Ask for a reason; resolves with the trimmed text, or null if cancelled. */
  function askReason({ title, description, submitLabel = 'Continue', opener }) {
    if (reasonPending) finishReason(null);
    ui.reasonTitle.textContent = title;
    ui.reasonDesc.textContent = description || 'Your reason is stored in the audit log with your name and the time.';
    ui.reasonSubmit.textContent = submitLabel;
    ui.reasonInput.value = '';
    ui.reasonInput.removeAttribute('aria-invalid');
    ui.reasonError.textContent = '';
    return new Promise((resolve) => {
      // Safari does not focus a clicked button, so the caller may name the opener.
      reasonPending = { resolve, opener: opener || document.activeElement };
      ui.dialog.showModal();
      ui.reasonInput.focus();
    });
  }

  function finishReason(value) {
    const pending = reasonPending;
    reasonPending = null;
    if (ui.dialog.open) ui.dialog.close();
    if (!pending) return;
    // Give focus back to whatever opened the dialog, if it is still on the page.
    if (pending.opener && pending.opener.isConnected && typeof pending.opener.focus === 'function') pending.opener.focus();
    pending.resolve(value);
  }

  ui.reasonForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const value = ui.reasonInput.value.trim();
    if (value.length < 3 || value.length > 500) {
      ui.reasonInput.setAttribute('aria-invalid', 'true');
      ui.reasonError.textContent = value.length < 3
        ? 'Please give a reason of at least 3 characters.'
        : 'Please keep the reason under 500 characters.';
      ui.reasonInput.focus();
      return;
    }
    finishReason(value);
  });
  ui.reasonCancel.addEventListener('click', () => finishReason(null));
  // Escape fires 'cancel' and closes the dialog; 'close' covers every other way it closes.
  ui.dialog.addEventListener('close', () => { if (reasonPending) finishReason(null); });
  ui.reasonInput.addEventListener('keydown', (e) => {
    // Enter submits (Shift+Enter for a new line), as in a one-line field.
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      ui.reasonForm.requestSubmit();
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Session

  function showLogin(message) {
    setViews('login');
    ui.nav.hidden = true;
    ui.sessionBox.hidden = true;
    ui.loginMessage.textContent = message || '';
    ui.loginError.textContent = '';
    ui.loginPassword.value = '';
    ui.loginSubmit.disabled = false;
    (ui.loginUser.value ? ui.loginPassword : ui.loginUser).focus();
  }

  /** Whether the signed-in role holds a permission (the server checks again on every request). */
  function can(permission) {
    const p = state.session && state.session.permissions;
    return Array.isArray(p) && p.includes(permission);
  }

  function startSession(session) {
    state.session = session;
    const u = session.user || {};
    ui.signedInAs.textContent = `Signed in as ${u.username || u.staff_id || 'unknown'} (${u.role || 'no role'})`;
    const idle = Number(session.idle_timeout_secs);
    ui.idleNote.textContent = idle > 0 ? `You will be signed out after ${minutes(idle)} of inactivity.` : '';
    const auditor = can('export_audit');
    ui.auditTools.hidden = !auditor;
    ui.navCalls.parentElement.hidden = !can('read_calls');
    ui.navQueue.parentElement.hidden = !can('work_queue');
    for (const v of Object.values(extraViews)) v.nav.parentElement.hidden = !can(v.permission);
    ui.verifyResult.textContent = '';
    ui.nav.hidden = false;
    ui.sessionBox.hidden = false;
    ui.loginMessage.textContent = '';
    restartIdleTimer();
  }

  /** Forget everything on screen (PHI included) and go back to the sign-in form. */
  function endSession(message) {
    state.session = null;
    stopIdleTimer();
    if (reasonPending) finishReason(null);
    closeDetail();
    ui.callsBody.replaceChildren();
    ui.callsSummary.textContent = 'No calls loaded.';
    ui.callsTable.dataset.state = 'idle';
    state.list.cursors = [null];
    state.list.page = 0;
    state.list.nextCursor = null;
    updatePager();
    ui.callbacksBody.replaceChildren();
    ui.lockoutsBody.replaceChildren();
    for (const v of Object.values(extraViews)) v.reset();
    ui.verifyResult.textContent = '';
    clearMessages();
    showLogin(message || '');
  }

  ui.loginForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const username = ui.loginUser.value.trim();
    const password = ui.loginPassword.value;
    ui.loginError.textContent = '';
    ui.loginUser.removeAttribute('aria-invalid');
    ui.loginPassword.removeAttribute('aria-invalid');
    if (!username || !password) {
      const field = !username ? ui.loginUser : ui.loginPassword;
      field.setAttribute('aria-invalid', 'true');
      ui.loginError.textContent = !username ? 'Enter your username.' : 'Enter your password.';
      field.focus();
      return;
    }
    ui.loginSubmit.disabled = true;
    setStatus('Signing in…');
    try {
      const session = await api('POST', '/login', { username, password }, { allow401: true });
      ui.loginPassword.value = '';
      clearMessages();
      startSession(session);
      route();
    } catch (err) {
      setStatus('');
      ui.loginError.textContent = err.status === 401
        ? 'Wrong username or password, or the account is disabled.'
        : err.status === 429
          ? 'Too many failed sign-in attempts. Wait a few minutes and try again.'
          : err.message;
      ui.loginPassword.value = '';
      ui.loginPassword.setAttribute('aria-invalid', 'true');
      ui.loginPassword.focus();
    } finally {
      ui.loginSubmit.disabled = false;
    }
  });

  ui.signOut.addEventListener('click', async () => {
    try {
      await api('POST', '/logout', {}, { allow401: true });
    } catch (_) {
      // Signed out here either way; the server's session expires on its own.
    }
    endSession('You have signed out.');
  });

  // The server ends a session after idle_timeout_secs without a request. Mirror that clock so the
  // screen (which may show PHI) is cleared when the session is gone, and warn a minute before.
  function restartIdleTimer() {
    stopIdleTimer();
    const secs = state.session && Number(state.session.idle_timeout_secs);
    const ms = secs * 1000;
    // setTimeout fires at once beyond 2^31-1 ms (~24 days); no client timer is needed then.
    if (!(ms > 0) || ms > 0x7fffffff) return;
    if (ms > WARN_BEFORE_IDLE_MS * 2) {
      state.idle.warnTimer = setTimeout(() => {
        ui.idleWarningText.textContent = 'You will be signed out in about a minute because of inactivity.';
        ui.idleWarning.hidden = false;
      }, ms - WARN_BEFORE_IDLE_MS);
    }
    state.idle.endTimer = setTimeout(() => {
      // Tell the server too (best effort), so the session cannot outlive what the screen shows.
      const csrf = state.session && state.session.csrf;
      fetch(`${API}/logout`, {
        method: 'POST', credentials: 'same-origin', cache: 'no-store',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf || '' }, body: '{}',
      }).catch(() => {});
      endSession(SESSION_ENDED);
    }, ms);
  }
  function stopIdleTimer() {
    clearTimeout(state.idle.warnTimer);
    clearTimeout(state.idle.endTimer);
    ui.idleWarning.hidden = true;
  }
  ui.staySignedIn.addEventListener('click', async () => {
    try {
      const session = await api('GET', '/session');
      state.session = session;
      ui.idleWarning.hidden = true;
      setStatus('You are still signed in.');
    } catch (err) {
      reportError(err);
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Views and routing. The hash holds at most a call id: #/calls, #/calls/<id>, #/queue.

  function setViews(name) {
    ui.loginView.hidden = name !== 'login';
    ui.callsView.hidden = name !== 'calls';
    ui.detailView.hidden = name !== 'detail';
    ui.queueView.hidden = name !== 'queue';
    ui.navCalls.toggleAttribute('aria-current', false);
    ui.navQueue.toggleAttribute('aria-current', false);
    for (const [n, v] of Object.entries(extraViews)) {
      v.view.hidden = name !== n;
      v.nav.toggleAttribute('aria-current', false);
      if (name === n) v.nav.setAttribute('aria-current', 'page');
    }
    if (name === 'calls' || name === 'detail') ui.navCalls.setAttribute('aria-current', 'page');
    if (name === 'queue') ui.navQueue.setAttribute('aria-current', 'page');
  }

  function parseHash() {
    const h = location.hash;
    const m = /^#\/calls\/([^/]+)$/.exec(h);
    if (m) {
      try { return { view: 'detail', callId: decodeURIComponent(m[1]) }; } catch (_) { return { view: 'calls' }; }
    }
    if (h === '#/queue') return { view: 'queue' };
    const extra = Object.keys(extraViews).find((n) => h === `#/${n}`);
    if (extra) return { view: extra };
    return { view: 'calls' };
  }

  function route() {
    if (!state.session) return;
    let r = parseHash();
    // A role that cannot read calls starts on the first view it may use (the front desk: schedule).
    if ((r.view === 'calls' || r.view === 'detail') && !can('read_calls')) {
      const first = Object.keys(extraViews).find((n) => can(extraViews[n].permission));
      r = first ? { view: first } : (can('work_queue') ? { view: 'queue' } : r);
    }
    if (extraViews[r.view] && !can(extraViews[r.view].permission)) r = { view: 'calls' };
    if (r.view !== 'detail' && state.detail) closeDetail();
    if (r.view === 'detail') {
      if (state.detail && state.callId === r.callId) {
        setViews('detail');
      } else {
        // Keep a view behind the reason dialog (on a reload nothing is shown yet).
        if (ui.detailView.hidden) {
          setViews('calls');
          if (ui.callsTable.dataset.state !== 'loaded') loadCalls();
        }
        openCall(r.callId, { fromHash: true });
      }
    } else if (r.view === 'queue') {
      setViews('queue');
      loadQueue();
    } else if (extraViews[r.view]) {
      setViews(r.view);
      extraViews[r.view].show();
    } else {
      setViews('calls');
      if (ui.callsTable.dataset.state !== 'loaded') loadCalls();
    }
  }

  window.addEventListener('hashchange', () => { clearMessages(); route(); });

  // The skip link would otherwise change the hash (and the route).
  document.querySelector('.skip-link').addEventListener('click', (e) => {
    e.preventDefault();
    ui.main.focus();
  });

  // ---------------------------------------------------------------------------------------------
  // Call list

  /** Local date (yyyy-mm-dd) → ms at local midnight; `plusDays` 1 makes "to" inclusive. */
  function dateToMs(value, plusDays = 0) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
    if (!m) return null;
    return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + plusDays).getTime();
  }

  function readFilters() {
    const q = {};
    const from = ui.fFrom.value ? dateToMs(ui.fFrom.value) : null;
    const to = ui.fTo.value ? dateToMs(ui.fTo.value, 1) : null;
    if (ui.fFrom.value && from == null) throw new Error('The "From date" is not a valid date.');
    if (ui.fTo.value && to == null) throw new Error('The "To date" is not a valid date.');
    if (from != null && to != null && to <= from) throw new Error('The "To date" must be on or after the "From date".');
    if (from != null) q.from_ms = String(from);
    if (to != null) q.to_ms = String(to);
    if (ui.fTransport.value) q.transport = ui.fTransport.value;
    if (ui.fOutcome.value.trim()) q.outcome = ui.fOutcome.value.trim();
    if (ui.fVerified.value) q.verified = ui.fVerified.value;
    if (ui.fEmergency.value) q.emergency = ui.fEmergency.value;
    const patient = ui.fPatient.value.trim();
    if (patient) {
      // A keyed reference only: refuse anything that looks like a name or a number typed in.
      if (!/^phi:[A-Za-z0-9_.-]+:[0-9a-fA-F]+$/.test(patient)) {
        ui.fPatient.setAttribute('aria-invalid', 'true');
        throw new Error('The patient reference must be a keyed reference such as phi:k1:0123…, not a name or number.');
      }
      q.patient_ref = patient;
    }
    return q;
  }

  ui.filters.addEventListener('submit', (e) => {
    e.preventDefault();
    ui.filterError.textContent = '';
    ui.fPatient.removeAttribute('aria-invalid');
    try {
      state.list.query = readFilters();
    } catch (err) {
      ui.filterError.textContent = err.message;
      return;
    }
    state.list.cursors = [null];
    state.list.page = 0;
    loadCalls();
  });

  ui.clearFilters.addEventListener('click', () => {
    ui.filters.reset();
    ui.filterError.textContent = '';
    ui.fPatient.removeAttribute('aria-invalid');
    state.list.query = {};
    state.list.cursors = [null];
    state.list.page = 0;
    loadCalls();
  });

  ui.nextPage.addEventListener('click', () => {
    if (!state.list.nextCursor) return;
    state.list.cursors[state.list.page + 1] = state.list.nextCursor;
    state.list.page += 1;
    loadCalls({ focusTable: true });
  });
  ui.prevPage.addEventListener('click', () => {
    if (state.list.page === 0) return;
    state.list.page -= 1;
    loadCalls({ focusTable: true });
  });

  function updatePager() {
    ui.prevPage.disabled = state.list.page === 0;
    ui.nextPage.disabled = !state.list.nextCursor;
    ui.pageLabel.textContent = ui.callsTable.dataset.state === 'loaded' ? `Page ${state.list.page + 1}` : '';
  }

  async function loadCalls(opts = {}) {
    const seq = ++state.list.seq;
    const params = new URLSearchParams(state.list.query);
    params.set('limit', String(PAGE_SIZE));
    const cursor = state.list.cursors[state.list.page];
    if (cursor) params.set('before', cursor);
    ui.callsTable.dataset.state = 'loading';
    ui.callsTable.setAttribute('aria-busy', 'true');
    setError('');
    setStatus('Loading calls…');
    try {
      const data = await api('GET', `/calls?${params}`);
      if (seq !== state.list.seq) return; // a newer request superseded this one
      const calls = Array.isArray(data && data.calls) ? data.calls : [];
      state.list.nextCursor = data && data.next_cursor ? data.next_cursor : null;
      renderCalls(calls);
      ui.callsTable.dataset.state = 'loaded';
      state.list.loads += 1;
      ui.callsTable.dataset.loads = String(state.list.loads);
      const filtered = Object.keys(state.list.query).length > 0;
      const summary = calls.length === 0
        ? (filtered ? 'No calls match these filters.' : 'No calls yet.')
        : `${calls.length} call${calls.length === 1 ? '' : 's'} on this page${filtered ? ' (filtered)' : ''}, newest first.`;
      ui.callsSummary.textContent = summary;
      setStatus(summary);
      if (opts.focusTable) {
        const first = ui.callsBody.querySelector('button');
        if (first) first.focus();
      }
    } catch (err) {
      if (seq !== state.list.seq) return;
      ui.callsTable.dataset.state = 'error';
      reportError(err, 'Could not load calls');
    } finally {
      if (seq === state.list.seq) {
        ui.callsTable.removeAttribute('aria-busy');
        updatePager();
      }
    }
  }

  function renderCalls(calls) {
    const rows = calls.map((c) => {
      const open = el('button', {
        className: 'btn-link open-call', text: fmtDateTime(c.started_at_ms),
        attrs: { type: 'button', 'aria-label': `Open call started ${fmtDateTime(c.started_at_ms)}` },
        on: { click: (e) => openCall(c.call_id, { opener: e.currentTarget }) },
      });
      const flag = (b, cls) => el('td', { text: yesNo(b), className: b ? cls : '' });
      return el('tr', { attrs: { 'data-call-id': c.call_id, 'data-transport': c.transport } }, [
        el('td', { className: 'num' }, [open]),
        td(fmtMs(c.duration_ms), 'num'),
        td(fmtTransport(c.transport)),
        td(c.outcome || (c.ended_at_ms == null ? 'in progress' : '—')),
        flag(c.verified, 'flag-yes'),
        flag(c.emergency, 'flag-emergency'),
        td(c.has_recording ? 'Yes' : 'No'),
        flag(c.legal_hold, 'flag-hold'),
      ]);
    });
    ui.callsBody.replaceChildren(...rows);
  }

  // Audit chain verification (auditor, admin).
  ui.verifyChain.addEventListener('click', async () => {
    ui.verifyChain.disabled = true;
    ui.verifyResult.className = 'chain-status';
    ui.verifyResult.textContent = 'Verifying the audit chain…';
    try {
      const chain = await api('POST', '/audit/verify', {});
      showChain(ui.verifyResult, chain);
    } catch (err) {
      ui.verifyResult.textContent = '';
      reportError(err, 'Could not verify the audit chain');
    } finally {
      ui.verifyChain.disabled = false;
    }
  });

  function showChain(target, chain) {
    const ok = chain && chain.ok;
    target.className = `chain-status ${ok ? 'chain-ok' : 'chain-bad'}`;
    target.textContent = ok
      ? `Audit chain verified: ${chain.length} record${chain.length === 1 ? '' : 's'}`
      : `Audit chain problem: ${(chain && chain.problem) || 'unknown problem'}`;
  }

  // ---------------------------------------------------------------------------------------------
  // Call detail

  /** Ask why, then fetch the call's detail (the server audits the reason before answering). */
  async function openCall(callId, opts = {}) {
    clearMessages();
    const reason = await askReason({
      title: 'Why are you opening this call?',
      description: 'Opening a call shows its transcript and lets you play the recording. Your reason is stored in the audit log with your name and the time.',
      submitLabel: 'Open call',
      opener: opts.opener,
    });
    if (reason == null) {
      // Cancelled: an unexplained hash route must not leave a half-open detail view.
      if (opts.fromHash) navigateReplace('#/calls');
      return;
    }
    const seq = ++state.detailSeq;
    setStatus('Opening the call…');
    try {
      const detail = await api('POST', `/calls/${enc(callId)}/view`, { reason });
      if (seq !== state.detailSeq || !state.session) return;
      closeDetail();
      state.detail = detail;
      state.callId = callId;
      state.reason = reason;
      if (location.hash !== `#/calls/${enc(callId)}`) history.pushState(null, '', `#/calls/${enc(callId)}`);
      renderDetail(detail);
      setViews('detail');
      setStatus('Call opened.');
      ui.detailHeading.focus();
    } catch (err) {
      if (seq !== state.detailSeq) return;
      reportError(err, 'Could not open the call');
      if (opts.fromHash) navigateReplace('#/calls');
    }
  }

  function navigateReplace(hash) {
    history.replaceState(null, '', hash);
    route();
  }

  /** Stop playback and drop everything the detail view holds (PHI included). */
  function closeDetail() {
    state.detailSeq++;
    stopAnimation();
    const a = ui.audio;
    a.pause();
    a.removeAttribute('src');
    a.load();
    state.detail = null;
    state.callId = null;
    state.reason = null;
    state.playback = null;
    state.levels = null;
    state.timeline = [];
    state.currentLine = null;
    ui.detailView.dataset.state = 'idle';
    ui.detailReason.textContent = '';
    ui.callSummary.replaceChildren();
    ui.transcript.replaceChildren();
    ui.toolsBody.replaceChildren();
    ui.truncations.replaceChildren();
    ui.auditBody.replaceChildren();
    ui.chainStatus.textContent = '';
    ui.strips.replaceChildren();
    ui.waveformNote.textContent = '';
    ui.waveform.dataset.state = 'idle';
    ui.waveformLegend.hidden = true;
    ui.play.textContent = 'Play recording';
    ui.playTime.textContent = '0:00 / 0:00';
  }

  function renderDetail(d) {
    const c = d.call || {};
    const role = state.session.user.role;
    ui.detailHeading.textContent = `Call started ${fmtDateTime(c.started_at_ms)}`;
    ui.detailReason.textContent = `Opened for: “${state.reason}”`;

    const items = [
      ['Call ID', c.call_id, 'mono'],
      ['Started', fmtDateTime(c.started_at_ms)],
      ['Ended', c.ended_at_ms == null ? 'in progress' : fmtDateTime(c.ended_at_ms)],
      ['Duration', fmtMs(c.duration_ms)],
      ['Transport', fmtTransport(c.transport)],
      ['Outcome', c.outcome || '—'],
      ['Caller verified', yesNo(c.verified)],
      ['Emergency', yesNo(c.emergency)],
      ['Disclosure played', yesNo(c.disclosure_played)],
      ['Legal hold', yesNo(c.legal_hold)],
      ['Patient reference', d.patient_ref || 'none (not verified)', d.patient_ref ? 'mono' : ''],
    ];
    // Long identifiers get two grid cells so they do not wrap mid-token.
    ui.callSummary.replaceChildren(...items.map(([k, v, cls]) => el('div', { className: cls === 'mono' ? 'wide' : '' }, [
      el('dt', { text: k }), el('dd', { text: v == null ? '—' : String(v), className: cls }),
    ])));

    ui.legalHold.hidden = role !== 'admin';
    ui.legalHold.textContent = c.legal_hold ? 'Release legal hold' : 'Place legal hold';
    ui.exportAudit.hidden = !(role === 'auditor' || role === 'admin');

    renderRecording(d);
    renderTranscript(d.transcript || []);
    renderTools(d.tool_calls || [], d.truncations || []);
    renderNotifications(d.notifications || []);
    renderAudit(d.audit || [], d.chain);
    ui.detailView.dataset.state = 'loaded';
  }

  function renderRecording(d) {
    const r = d.recording || {};
    ui.player.hidden = !r.available;
    if (!r.available) {
      ui.recordingNote.textContent = r.deleted
        ? 'The recording has been deleted under the retention policy.'
        : 'There is no recording of this call.';
      return;
    }
    const parts = [];
    if (r.duration_ms != null) parts.push(fmtMs(r.duration_ms));
    if (r.sample_rate) parts.push(`${r.sample_rate / 1000} kHz`);
    const ch = Array.isArray(r.channels) ? r.channels : [];
    if (ch.length) parts.push(ch.map((name, i) => `${channelSide(i, ch.length)}: ${speakerLabel(name).toLowerCase()}`).join(', '));
    ui.recordingNote.textContent = `${parts.join(' · ')}. Playing the recording is recorded in the audit log with the reason you gave.`;
    ui.playTime.textContent = `0:00 / ${fmtMs(r.duration_ms)}`;
  }

  const channelSide = (i, n) => (n === 2 ? (i === 0 ? 'left' : 'right') : `channel ${i + 1}`);

  function seekButton(ms, label) {
    return el('button', {
      className: 'btn-link', text: fmtMs(ms), attrs: { type: 'button', 'aria-label': `${label} ${fmtMs(ms)}` },
      on: { click: (e) => { e.stopPropagation(); seekTo(ms / 1000, true); } },
    });
  }

  function renderTranscript(lines) {
    state.timeline = [];
    const items = lines.map((line) => {
      const hasPos = typeof line.start_ms === 'number';
      const li = el('li', { className: `speaker-${line.speaker || 'unknown'}${hasPos ? ' seekable' : ''}` }, [
        el('span', { className: 't-time' }, [hasPos ? seekButton(line.start_ms, 'Play from') : el('span', { text: '—', attrs: { 'aria-label': 'no position in the recording' } })]),
        el('span', { className: 't-speaker', text: speakerLabel(line.speaker) }),
        el('span', { className: 't-text', text: line.text || '' }),
      ]);
      if (hasPos) {
        state.timeline.push({ start: line.start_ms, li });
        // A click anywhere on the line seeks, unless the reviewer is selecting text to copy.
        li.addEventListener('click', () => {
          const sel = window.getSelection();
          if (sel && sel.toString()) return;
          seekTo(line.start_ms / 1000, true);
        });
      }
      return li;
    });
    // Positions should already be in order; sort so the lookup below can rely on it.
    state.timeline.sort((a, b) => a.start - b.start);
    if (!items.length) items.push(el('li', { className: 'speaker-system', text: 'No transcript for this call.' }));
    ui.transcript.replaceChildren(...items);
  }

  function renderTools(tools, truncs) {
    ui.toolsBody.replaceChildren(...tools.map((t) => el('tr', {}, [
      el('td', { className: 'num' }, [typeof t.at_ms === 'number' ? seekButton(t.at_ms, `Play ${t.name || 'tool call'} at`) : document.createTextNode('—')]),
      td(t.name || '—', 'mono'),
      td(t.outcome || '—'),
    ])));
    ui.toolsTable.hidden = tools.length === 0;
    ui.toolsEmpty.hidden = tools.length !== 0;
    ui.truncations.replaceChildren(...truncs.map((t) => el('li', {}, [
      document.createTextNode('Agent cut off at '), seekButton(t.audio_end_ms, 'Play from cut-off at'),
    ])));
    ui.truncEmpty.hidden = truncs.length !== 0;
  }

  function renderNotifications(rows) {
    ui.notificationsBody.replaceChildren(...rows.map((n) => {
      const what = n.kind === 'reminder' ? `reminder, ${Math.round((n.offset_min || 0) / 60)} h before` : n.kind;
      let status = n.status;
      if (n.last_error) status += ` (${n.last_error})`;
      if (n.reply) status += `, patient replied ${n.reply}`;
      if (n.attempts > 1) status += `, ${n.attempts} attempts`;
      return el('tr', { attrs: { 'data-status': n.status } }, [
        td(fmtDateTime(n.sent_at_ms != null ? n.sent_at_ms : n.due_at_ms), 'num'),
        td(what),
        td(n.channel),
        td(status),
      ]);
    }));
    ui.notificationsTable.hidden = rows.length === 0;
    ui.notificationsEmpty.hidden = rows.length !== 0;
  }

  function renderAudit(audit, chain) {
    ui.auditBody.replaceChildren(...audit.map((a) => {
      const r = a.record || {};
      const outcome = r.late ? `${r.outcome || '—'} (written late)` : (r.outcome || '—');
      return el('tr', {}, [
        td(String(a.index != null ? a.index : r.index), 'num'),
        td(fmtDateTime(r.at_ms), 'num'),
        td(r.action || '—', 'mono'),
        td(fmtActor(r.actor)),
        td(outcome),
        td(r.reason == null || r.reason === '' ? '—' : String(r.reason)),
      ]);
    }));
    if (!audit.length) ui.auditBody.append(el('tr', {}, [el('td', { text: 'No audit records for this call.', attrs: { colspan: '6' } })]));
    if (chain) showChain(ui.chainStatus, chain);
    else ui.chainStatus.textContent = '';
  }

  // Legal hold (admin).
  ui.legalHold.addEventListener('click', async () => {
    const d = state.detail;
    if (!d) return;
    const hold = !d.call.legal_hold;
    const reason = await askReason({
      title: hold ? 'Why are you placing a legal hold?' : 'Why are you releasing the legal hold?',
      description: hold
        ? 'A legal hold keeps this call and its recording from deletion until it is released. Your reason is audited.'
        : 'Without a hold, the call and its recording are deleted on the retention schedule. Your reason is audited.',
      submitLabel: hold ? 'Place hold' : 'Release hold',
    });
    if (reason == null || state.detail !== d) return;
    try {
      await api('POST', `/calls/${enc(d.call.call_id)}/legal-hold`, { hold, reason });
      if (state.detail !== d) return;
      d.call.legal_hold = hold;
      renderDetailSummaryOnly();
      setStatus(hold ? 'Legal hold placed.' : 'Legal hold released.');
      ui.callsTable.dataset.state = 'stale'; // the list shows the old flag: reload it next time
    } catch (err) {
      reportError(err, 'Could not change the legal hold');
    }
  });

  function renderDetailSummaryOnly() {
    // Re-render the parts that show the hold without touching the player or transcript.
    const c = state.detail.call;
    ui.legalHold.textContent = c.legal_hold ? 'Release legal hold' : 'Place legal hold';
    for (const div of ui.callSummary.children) {
      if (div.firstChild && div.firstChild.textContent === 'Legal hold') div.lastChild.textContent = yesNo(c.legal_hold);
    }
  }

  // Audit export of the open call (auditor, admin): JSON download through a blob URL.
  ui.exportAudit.addEventListener('click', async () => {
    const d = state.detail;
    if (!d) return;
    const reason = await askReason({
      title: 'Why are you exporting these audit records?',
      description: 'The export contains this call\'s audit records. Your reason is audited.',
      submitLabel: 'Export',
    });
    if (reason == null || state.detail !== d) return;
    try {
      const data = await api('POST', '/audit/export', { call_id: d.call.call_id, reason });
      const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
      const url = URL.createObjectURL(blob);
      const a = el('a', { attrs: { href: url, download: `audit-${d.call.call_id}.json` } });
      document.body.append(a);
      a.click();
      a.remove();
      // The download has started from the URL by now; release it soon after.
      setTimeout(() => URL.revokeObjectURL(url), 60 * 1000);
      const n = data && Array.isArray(data.records) ? data.records.length : 0;
      setStatus(`Exported ${n} audit record${n === 1 ? '' : 's'}.`);
    } catch (err) {
      reportError(err, 'Could not export the audit records');
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Playback

  /** Get (or renew) a playback grant and load it into the player; audited with the view reason. */
  async function ensurePlayback() {
    const p = state.playback;
    if (p && ui.audio.getAttribute('src') && (!p.expires_at_ms || p.expires_at_ms - Date.now() > 10 * 1000)) return true;
    const d = state.detail;
    const grant = await api('POST', `/calls/${enc(d.call.call_id)}/playback`, { reason: state.reason });
    if (state.detail !== d) return false;
    if (!grant || typeof grant.url !== 'string') throw new ApiError(0, 'The server gave no recording address.');
    const resumeAt = ui.audio.currentTime || 0;
    const firstTime = !state.playback;
    state.playback = grant;
    // The player starts with preload="none" (no grant yet); now that the reviewer asked to listen,
    // let it fetch, so that metadata arrives and seeking works before play.
    ui.audio.preload = 'auto';
    ui.audio.src = grant.url;
    if (resumeAt > 0) await whenMetadata().then(() => { ui.audio.currentTime = resumeAt; });
    if (firstTime) loadWaveform(grant.url, d);
    return true;
  }

  function whenMetadata() {
    const a = ui.audio;
    if (a.readyState >= 1) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => { a.removeEventListener('loadedmetadata', done); a.removeEventListener('error', fail); resolve(); };
      const fail = () => { a.removeEventListener('loadedmetadata', done); a.removeEventListener('error', fail); reject(new ApiError(0, 'The recording could not be loaded.')); };
      a.addEventListener('loadedmetadata', done);
      a.addEventListener('error', fail);
    });
  }

  async function startPlaying() {
    try {
      if (!(await ensurePlayback())) return;
      await ui.audio.play();
    } catch (err) {
      if (err && err.name === 'AbortError') return; // superseded by a pause or a new source
      reportError(err, 'Could not play the recording');
    }
  }

  ui.play.addEventListener('click', () => {
    if (!ui.audio.paused && ui.audio.getAttribute('src')) ui.audio.pause();
    else startPlaying();
  });

  /** Move to `sec`; with `play`, start playing from there (getting a grant first if needed). */
  async function seekTo(sec, play) {
    if (!state.detail || !state.detail.recording || !state.detail.recording.available) return;
    try {
      if (!ui.audio.getAttribute('src')) {
        if (!(await ensurePlayback())) return;
      }
      await whenMetadata();
      const dur = mediaDuration();
      ui.audio.currentTime = Math.max(0, Math.min(sec, dur > 0 ? dur - 0.05 : sec));
      updatePosition();
      if (play && ui.audio.paused) await startPlaying();
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      reportError(err, 'Could not move in the recording');
    }
  }

  function mediaDuration() {
    const a = ui.audio;
    if (Number.isFinite(a.duration) && a.duration > 0) return a.duration;
    if (state.levels) return state.levels.duration;
    const r = state.detail && state.detail.recording;
    return r && r.duration_ms ? r.duration_ms / 1000 : 0;
  }

  const audio = ui.audio;
  audio.addEventListener('play', () => { ui.play.textContent = 'Pause'; startAnimation(); });
  audio.addEventListener('pause', () => { ui.play.textContent = 'Play recording'; stopAnimation(); updatePosition(); });
  audio.addEventListener('ended', () => { ui.play.textContent = 'Play recording'; stopAnimation(); updatePosition(); });
  audio.addEventListener('timeupdate', updatePosition);
  audio.addEventListener('seeked', updatePosition);
  audio.addEventListener('loadedmetadata', updatePosition);
  audio.addEventListener('error', async () => {
    if (!audio.getAttribute('src') || !state.detail) return;
    // A grant lasts a few minutes; if it ran out mid-listen, get a new one and carry on.
    const p = state.playback;
    if (p && p.expires_at_ms && p.expires_at_ms - Date.now() < 10 * 1000) {
      const wasPlaying = !audio.paused;
      try {
        await ensurePlayback();
        if (wasPlaying) await audio.play();
        return;
      } catch (err) {
        if (!(err && err.name === 'AbortError')) reportError(err, 'Could not renew access to the recording');
        return;
      }
    }
    setError('The recording could not be played. It may have expired or been removed; reopen the call to try again.');
  });

  function startAnimation() {
    stopAnimation();
    const tick = () => {
      updatePosition();
      state.raf = requestAnimationFrame(tick);
    };
    state.raf = requestAnimationFrame(tick);
  }
  function stopAnimation() {
    if (state.raf) cancelAnimationFrame(state.raf);
    state.raf = 0;
  }

  /** Follow the playhead: time label, level strips and the current transcript line. */
  function updatePosition() {
    if (!state.detail) return;
    const t = audio.currentTime || 0;
    ui.playTime.textContent = `${fmtClock(t)} / ${fmtClock(mediaDuration())}`;
    drawStrips();
    highlightLine(t * 1000);
  }

  function highlightLine(ms) {
    // The last line starting at or before ms: start_ms ≤ t < next line's start_ms.
    const tl = state.timeline;
    let lo = 0;
    let hi = tl.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (tl[mid].start <= ms) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    const li = found >= 0 ? tl[found].li : null;
    if (li === state.currentLine) return;
    if (state.currentLine) {
      state.currentLine.classList.remove('current');
      state.currentLine.removeAttribute('aria-current');
    }
    state.currentLine = li;
    if (!li) return;
    li.classList.add('current');
    li.setAttribute('aria-current', 'true');
    scrollLineIntoView(li);
  }

  /** Scroll only the transcript box (not the page), so reading elsewhere is not disturbed. */
  function scrollLineIntoView(li) {
    const box = ui.transcript;
    const top = li.offsetTop;
    const bottom = top + li.offsetHeight;
    if (top < box.scrollTop || bottom > box.scrollTop + box.clientHeight) {
      const smooth = !window.matchMedia('(prefers-reduced-motion: reduce)').matches;
      box.scrollTo({ top: Math.max(0, top - box.clientHeight / 3), behavior: smooth ? 'smooth' : 'auto' });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Level strips: one canvas per channel, drawn from the decoded recording.

  const STRIP_COLOURS = { caller: '#1a4d8f', agent: '#7a3e9d' };

  async function loadWaveform(url, d) {
    ui.waveform.dataset.state = 'loading';
    ui.waveformNote.textContent = 'Drawing the level view…';
    const target = new URL(url, location.href);
    if (target.origin !== location.origin) {
      // The page may only fetch from its own origin (CSP connect-src 'self'); the player can
      // still stream an archive URL, but its bytes cannot be read here.
      return waveformUnavailable('Waveform unavailable: the recording is streamed from the archive.');
    }
    const r = d.recording || {};
    if (r.duration_ms > LEVEL_MAX_DURATION_MS) return waveformUnavailable('Waveform unavailable: the recording is too long to draw here.');
    try {
      const res = await fetch(target, { credentials: 'same-origin', cache: 'no-store' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const bytes = await res.arrayBuffer();
      if (state.detail !== d) return;
      // An offline context decodes without an audio device or a user gesture.
      const ctx = new OfflineAudioContext(1, 1, LEVEL_DECODE_RATE);
      const buffer = await ctx.decodeAudioData(bytes);
      if (state.detail !== d) return;
      state.levels = computeLevels(buffer);
      buildStrips(d);
      ui.waveform.dataset.state = 'drawn';
      ui.waveformNote.textContent = '';
      ui.waveformLegend.hidden = false;
      drawStrips();
    } catch (_) {
      if (state.detail !== d) return;
      waveformUnavailable('Waveform unavailable: the recording could not be decoded here. It can still be played.');
    }
  }

  function waveformUnavailable(text) {
    ui.waveform.dataset.state = 'unavailable';
    ui.waveformNote.textContent = text;
    ui.strips.replaceChildren();
    ui.waveformLegend.hidden = true;
  }

  /** Peak level per bin and channel, in 0..1 on a 60 dB scale (speech is easier to see). */
  function computeLevels(buffer) {
    const channels = [];
    const n = buffer.length;
    const bins = Math.max(1, Math.min(LEVEL_BINS, n));
    for (let c = 0; c < buffer.numberOfChannels; c++) {
      const data = buffer.getChannelData(c);
      const out = new Float32Array(bins);
      for (let b = 0; b < bins; b++) {
        const start = Math.floor((b * n) / bins);
        const end = Math.max(start + 1, Math.floor(((b + 1) * n) / bins));
        let peak = 0;
        for (let i = start; i < end; i++) {
          const v = Math.abs(data[i]);
          if (v > peak) peak = v;
        }
        const db = peak > 0 ? 20 * Math.log10(peak) : -Infinity;
        out[b] = Math.max(0, Math.min(1, (db + 60) / 60));
      }
      channels.push(out);
    }
    return { channels, duration: buffer.duration };
  }

  function buildStrips(d) {
    const names = (d.recording && Array.isArray(d.recording.channels)) ? d.recording.channels : [];
    const count = state.levels.channels.length;
    const strips = state.levels.channels.map((_, i) => {
      const name = names[i] || `channel ${i + 1}`;
      const label = `${speakerLabel(name)} (${channelSide(i, count)})`;
      const labelId = `strip-label-${i}`;
      const canvas = el('canvas', {
        className: 'strip-canvas',
        attrs: {
          tabindex: '0', role: 'slider', 'aria-labelledby': labelId, 'aria-valuemin': '0',
          'aria-orientation': 'horizontal', 'data-channel': name,
        },
      });
      canvas.addEventListener('click', (e) => {
        const rect = canvas.getBoundingClientRect();
        const frac = Math.max(0, Math.min(1, (e.clientX - rect.left) / rect.width));
        seekTo(frac * mediaDuration(), false);
      });
      canvas.addEventListener('keydown', onStripKey);
      return el('div', { className: `strip strip-${name}` }, [el('span', { className: 'strip-label', text: label, attrs: { id: labelId } }), canvas]);
    });
    ui.strips.replaceChildren(...strips);
  }

  function onStripKey(e) {
    const t = audio.currentTime || 0;
    const dur = mediaDuration();
    const moves = {
      ArrowLeft: t - SEEK_STEP_S, ArrowDown: t - SEEK_STEP_S, ArrowRight: t + SEEK_STEP_S, ArrowUp: t + SEEK_STEP_S,
      PageDown: t - 30, PageUp: t + 30, Home: 0, End: dur,
    };
    if (e.key in moves) {
      e.preventDefault();
      seekTo(Math.max(0, Math.min(dur, moves[e.key])), false);
    } else if (e.key === ' ' || e.key === 'Enter') {
      e.preventDefault();
      if (audio.paused) startPlaying(); else audio.pause();
    }
  }

  function drawStrips() {
    if (!state.levels || !state.detail) return;
    const dur = mediaDuration();
    const t = audio.currentTime || 0;
    const frac = dur > 0 ? Math.min(1, t / dur) : 0;
    const d = state.detail;
    const marks = {
      tool: (d.tool_calls || []).filter((x) => typeof x.at_ms === 'number').map((x) => x.at_ms / 1000),
      trunc: (d.truncations || []).filter((x) => typeof x.audio_end_ms === 'number').map((x) => x.audio_end_ms / 1000),
    };
    ui.strips.querySelectorAll('canvas').forEach((canvas, i) => {
      drawStrip(canvas, state.levels.channels[i], frac, dur, marks);
      canvas.setAttribute('aria-valuemax', String(Math.round(dur)));
      canvas.setAttribute('aria-valuenow', String(Math.round(t)));
      canvas.setAttribute('aria-valuetext', `${fmtClock(t)} of ${fmtClock(dur)}`);
      canvas.dataset.drawn = 'true';
    });
  }

  function drawStrip(canvas, levels, frac, dur, marks) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w) canvas.width = w;
    if (canvas.height !== h) canvas.height = h;
    const g = canvas.getContext('2d');
    const colour = STRIP_COLOURS[canvas.dataset.channel] || '#1a4d8f';
    g.clearRect(0, 0, w, h);
    const mid = h / 2;
    const playX = frac * w;
    // Mirrored bars around the centre line; the part already played is solid.
    for (let x = 0; x < w; x++) {
      const b0 = Math.floor((x * levels.length) / w);
      const b1 = Math.max(b0 + 1, Math.floor(((x + 1) * levels.length) / w));
      let v = 0;
      for (let b = b0; b < b1 && b < levels.length; b++) if (levels[b] > v) v = levels[b];
      const half = Math.max(0.5 * dpr, v * (mid - 2 * dpr));
      g.fillStyle = colour;
      g.globalAlpha = x < playX ? 0.95 : 0.35;
      g.fillRect(x, mid - half, 1, half * 2);
    }
    g.globalAlpha = 1;
    // Tool calls and truncations as short ticks at the top edge.
    if (dur > 0) {
      const tick = (sec, style) => {
        const x = Math.round((sec / dur) * w);
        g.fillStyle = style;
        g.fillRect(Math.min(w - 2 * dpr, x), 0, 2 * dpr, 8 * dpr);
      };
      marks.tool.forEach((s) => tick(s, '#0b7a75'));
      marks.trunc.forEach((s) => tick(s, '#b3261e'));
    }
    // Playhead.
    g.fillStyle = '#1a1a1a';
    g.fillRect(Math.min(w - 2 * dpr, Math.max(0, playX - dpr)), 0, 2 * dpr, h);
  }

  // Canvases are sized in CSS: redraw at their new pixel size when the layout changes.
  if (typeof ResizeObserver === 'function') new ResizeObserver(() => drawStrips()).observe(ui.strips);

  // ---------------------------------------------------------------------------------------------
  // Work queue

  ui.queueRefresh.addEventListener('click', () => loadQueue());

  async function loadQueue() {
    setStatus('Loading the work queue…');
    ui.queueView.dataset.state = 'loading';
    try {
      const q = await api('GET', '/queue');
      const callbacks = Array.isArray(q && q.callbacks) ? q.callbacks : [];
      const lockouts = Array.isArray(q && q.lockouts) ? q.lockouts : [];
      renderQueue(callbacks, lockouts);
      ui.queueView.dataset.state = 'loaded';
      setStatus(`${callbacks.length} open callback request${callbacks.length === 1 ? '' : 's'}, ${lockouts.length} lockout${lockouts.length === 1 ? '' : 's'}.`);
    } catch (err) {
      ui.queueView.dataset.state = 'error';
      reportError(err, 'Could not load the work queue');
    }
  }

  function renderQueue(callbacks, lockouts) {
    ui.callbacksBody.replaceChildren(...callbacks.map((cb) => el('tr', {}, [
      td(fmtDateTime(cb.created_at_ms), 'num'),
      td(cb.reference || '—', 'mono'),
      td(cb.topic || '—'),
      el('td', {}, [cb.call_id ? el('button', {
        className: 'btn-link', text: 'Open call', attrs: { type: 'button', 'aria-label': `Open the call for callback ${cb.reference}` },
        on: { click: (e) => openCall(cb.call_id, { opener: e.currentTarget }) },
      }) : document.createTextNode('—')]),
      el('td', {}, [el('button', {
        className: 'btn btn-small', text: 'Mark done', attrs: { type: 'button', 'aria-label': `Mark callback ${cb.reference} done` },
        on: { click: () => completeCallback(cb.reference) },
      })]),
    ])));
    ui.callbacksTable.hidden = callbacks.length === 0;
    ui.callbacksEmpty.hidden = callbacks.length !== 0;

    ui.lockoutsBody.replaceChildren(...lockouts.map((lo) => el('tr', {}, [
      td(fmtDateTime(lo.locked_at_ms), 'num'),
      td(lo.patient_ref || '—', 'mono'),
      el('td', {}, [el('button', {
        className: 'btn btn-small', text: 'Lift lockout', attrs: { type: 'button', 'aria-label': `Lift the lockout locked at ${fmtDateTime(lo.locked_at_ms)}` },
        on: { click: () => liftLockout(lo.patient_ref) },
      })]),
    ])));
    ui.lockoutsTable.hidden = lockouts.length === 0;
    ui.lockoutsEmpty.hidden = lockouts.length !== 0;
  }

  async function completeCallback(reference) {
    const reason = await askReason({
      title: 'Why are you marking this callback done?',
      description: 'For example: "Called the patient back and rebooked". Your reason is audited.',
      submitLabel: 'Mark done',
    });
    if (reason == null) return;
    try {
      await api('POST', `/callbacks/${enc(reference)}/complete`, { reason });
      setError('');
      await loadQueue();
      setStatus(`Callback ${reference} marked done.`);
      ui.queueRefresh.focus();
    } catch (err) {
      reportError(err, 'Could not mark the callback done');
    }
  }

  async function liftLockout(patientRef) {
    const reason = await askReason({
      title: 'Why are you lifting this lockout?',
      description: 'Lift a lockout only after you have verified the caller\'s identity yourself. Your reason is audited.',
      submitLabel: 'Lift lockout',
    });
    if (reason == null) return;
    try {
      await api('POST', '/lockouts/lift', { patient_ref: patientRef, reason });
      setError('');
      await loadQueue();
      setStatus('Lockout lifted.');
      ui.queueRefresh.focus();
    } catch (err) {
      reportError(err, 'Could not lift the lockout');
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Start: recover an existing session (after a reload) or ask to sign in.

  // ---------------------------------------------------------------------------------------------
  // Views in their own files (schedule.js, reports.js) register here; deferred scripts run before
  // the session check below resolves, so they are known by the first route().

  const extraViews = {}; // name → {view, nav, permission, show(), reset()}
  window.voicegateReview = Object.freeze({
    api, askReason, el, td, enc, can, setStatus, setError, clearMessages, reportError, fmtDateTime,
    /** Register a view shown at #/<name> to roles holding `permission`. */
    registerView(name, { view, nav, permission, show, reset }) {
      extraViews[name] = { view, nav, permission, show, reset: reset || (() => {}) };
      if (state.session) nav.parentElement.hidden = !can(permission);
    },
  });

  async function init() {
    setViews('none');
    try {
      const session = await api('GET', '/session', undefined, { allow401: true });
      startSession(session);
      route();
    } catch (err) {
      if (err.status === 401) showLogin('');
      else {
        showLogin('');
        setError(err.message);
      }
    }
  }

  init();
})();
