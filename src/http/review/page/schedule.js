// voicegate schedule: the front desk's day and week — each provider's open hours, visits (with the
// patient's name), holds with their expiry and blocked time; book, move, cancel, mark no-show or
// completed, block time; and, for clinic admins, the provider's calendar.
//
// Runs under the review page's CSP and uses its helpers (window.voicegateReview). Every change
// asks for a reason (audited with it). Times are shown and typed in the provider's own zone,
// whatever the browser's, because that is the clinic's clock.
'use strict';

(() => {
  const R = window.voicegateReview;
  if (!R) return;
  const { api, askReason, el, td, enc } = R;
  const $ = (id) => document.getElementById(id);
  const ui = {
    view: $('schedule-view'), nav: $('nav-schedule'), filters: $('sched-filters'), provider: $('sched-provider'),
    from: $('sched-from'), days: $('sched-days'), grid: $('sched-grid'),
    detail: $('sched-detail'), detailHeading: $('sched-detail-heading'), summary: $('sched-detail-summary'),
    moveForm: $('sched-move-form'), moveDay: $('sched-move-day'), moveTime: $('sched-move-time'),
    moveNotice: $('sched-move-notice'), moveBuffers: $('sched-move-buffers'),
    cancel: $('sched-cancel'), noshow: $('sched-noshow'), completed: $('sched-completed'), history: $('sched-history'),
    historyTable: $('sched-history-table'), historyBody: document.querySelector('#sched-history-table tbody'),
    findForm: $('sched-find-form'), findLast: $('sched-find-last'), findDob: $('sched-find-dob'),
    bookForm: $('sched-book-form'), bookPatient: $('sched-book-patient'), bookProvider: $('sched-book-provider'),
    bookType: $('sched-book-type'), bookDay: $('sched-book-day'), bookTime: $('sched-book-time'),
    bookReason: $('sched-book-reason'), bookNotice: $('sched-book-notice'), bookBuffers: $('sched-book-buffers'),
    blockForm: $('sched-block-form'), blockProvider: $('sched-block-provider'), blockDay: $('sched-block-day'),
    blockStart: $('sched-block-start'), blockEnd: $('sched-block-end'), blockLabel: $('sched-block-label'),
    calendar: $('sched-calendar'), calendarJson: $('sched-calendar-json'), calendarLoad: $('sched-calendar-load'),
    calendarSave: $('sched-calendar-save'), orphans: $('sched-orphans'),
  };
  const state = { view: null, providers: [], selected: null, loads: 0 };

  // ---------------------------------------------------------------------------------------------
  // Time in a provider's zone

  function partsIn(ms, zone) {
    const f = new Intl.DateTimeFormat('en-CA', {
      timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
    });
    return Object.fromEntries(f.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  }
  const localTime = (ms, zone) => { const p = partsIn(ms, zone); return `${p.hour}:${p.minute}`; };
  const localDay = (ms, zone) => { const p = partsIn(ms, zone); return `${p.year}-${p.month}-${p.day}`; };
  function offsetMs(ms, zone) {
    const p = partsIn(ms, zone);
    return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute) - Math.floor(ms / 60000) * 60000;
  }
  /** A wall-clock day and time in `zone` → an RFC 3339 instant (two passes settle DST edges). */
  function wallToInstant(day, time, zone) {
    const [y, m, d] = day.split('-').map(Number);
    const [h, mi] = time.split(':').map(Number);
    const guess = Date.UTC(y, m - 1, d, h, mi);
    let t = guess - offsetMs(guess, zone);
    t = guess - offsetMs(t, zone);
    return new Date(t).toISOString();
  }
  const zoneOf = (providerId) => {
    const p = state.providers.find((x) => x.provider_id === providerId);
    return p ? p.time_zone : 'UTC';
  };
  const today = () => new Date().toISOString().slice(0, 10);

  // ---------------------------------------------------------------------------------------------
  // Loading and drawing

  async function load() {
    const q = new URLSearchParams({ from: ui.from.value || today(), days: ui.days.value });
    if (ui.provider.value) q.set('provider', ui.provider.value);
    ui.grid.dataset.state = 'loading';
    R.setStatus('Loading the schedule…');
    try {
      const view = await api('GET', `/schedule?${q}`);
      state.view = view;
      if (!ui.provider.value) rememberProviders(view.providers);
      draw(view);
      state.loads += 1;
      ui.grid.dataset.loads = String(state.loads);
      ui.grid.dataset.state = 'loaded';
      R.setStatus(`Schedule from ${view.from}: ${view.appointments.length} visit(s).`);
    } catch (err) {
      ui.grid.dataset.state = 'error';
      R.reportError(err, 'Could not load the schedule');
    }
  }

  function rememberProviders(providers) {
    state.providers = providers;
    for (const select of [ui.provider, ui.bookProvider, ui.blockProvider]) {
      const keep = select.value;
      const first = select === ui.provider ? [el('option', { text: 'All providers', attrs: { value: '' } })] : [];
      select.replaceChildren(...first, ...providers.map((p) => el('option', {
        text: `${p.display_name} (${p.location_name})`, attrs: { value: p.provider_id },
      })));
      select.value = keep;
    }
    fillTypes();
  }

  function fillTypes() {
    const p = state.providers.find((x) => x.provider_id === ui.bookProvider.value) || state.providers[0];
    ui.bookType.replaceChildren(...(p ? p.types : []).map((t) => el('option', {
      text: `${t.name} (${t.duration_min} min)`, attrs: { value: t.code },
    })));
  }

  const STATUS_LABEL = { booked: 'booked', noshow: 'no-show', fulfilled: 'completed', cancelled: 'cancelled', pending: 'held' };

  function draw(view) {
    const sections = view.providers.map((p) => {
      const head = el('tr', {}, p.days.map((d) => el('th', { attrs: { scope: 'col' } }, [
        el('span', { className: 'sched-date', text: d.date }),
        el('span', { className: 'sched-hours muted', text: d.day_off ? 'day off' : (d.open.length
          ? d.open.map(([a, b]) => `${localTime(a, p.time_zone)}–${localTime(b, p.time_zone)}`).join(', ') : 'closed') }),
      ])));
      const cells = p.days.map((d) => {
        const inDay = (ms) => localDay(ms, p.time_zone) === d.date;
        const items = [];
        for (const a of view.appointments.filter((x) => x.provider_id === p.provider_id && inDay(x.start_ms))) {
          items.push([a.start_ms, el('li', { className: `sched-item sched-${a.status}` }, [
            el('button', {
              className: 'linkish sched-appointment',
              text: `${localTime(a.start_ms, p.time_zone)} ${a.patient_name} · ${STATUS_LABEL[a.status] || a.status}`,
              attrs: { type: 'button', 'data-appointment-id': a.appointment_id, 'data-status': a.status },
              on: { click: () => openAppointment(a, p) },
            }),
          ])]);
        }
        for (const h of view.holds.filter((x) => x.provider_id === p.provider_id && inDay(x.start_ms))) {
          items.push([h.start_ms, el('li', {
            className: 'sched-item sched-hold',
            text: `${localTime(h.start_ms, p.time_zone)} held by a caller until ${localTime(h.expires_at_ms, p.time_zone)}`,
          })]);
        }
        for (const b of view.blocks.filter((x) => x.provider_id === p.provider_id && inDay(x.start_ms))) {
          items.push([b.start_ms, el('li', { className: 'sched-item sched-block', attrs: { 'data-block-id': b.busy_id } }, [
            el('span', { text: `${localTime(b.start_ms, p.time_zone)}–${localTime(b.end_ms, p.time_zone)} ${b.label || 'blocked'} ` }),
            el('button', { className: 'btn btn-secondary btn-small', text: 'Remove', attrs: { type: 'button' }, on: { click: () => unblock(b) } }),
          ])]);
        }
        items.sort((x, y) => x[0] - y[0]);
        return el('td', {}, [items.length ? el('ul', { className: 'plain-list' }, items.map((i) => i[1])) : el('span', { className: 'muted', text: '—' })]);
      });
      return el('section', { className: 'sched-provider', attrs: { 'data-provider-id': p.provider_id } }, [
        el('h2', { text: `${p.display_name} — ${p.location_name}` }),
        el('div', { className: 'table-wrap' }, [el('table', { className: 'data-table sched-table' }, [
          el('caption', { className: 'table-caption', text: `Times in ${p.time_zone}` }),
          el('thead', {}, [head]), el('tbody', {}, [el('tr', {}, cells)]),
        ])]),
      ]);
    });
    ui.grid.replaceChildren(...(sections.length ? sections : [el('p', { className: 'muted', text: 'No providers.' })]));
  }

  // ---------------------------------------------------------------------------------------------
  // One appointment

  function openAppointment(a, p) {
    state.selected = { a, p };
    ui.summary.replaceChildren(...[
      ['Patient', a.patient_name], ['Provider', p.display_name],
      ['When', `${localDay(a.start_ms, p.time_zone)} ${localTime(a.start_ms, p.time_zone)}–${localTime(a.end_ms, p.time_zone)} (${p.time_zone})`],
      ['Status', STATUS_LABEL[a.status] || a.status], ['Booked by', a.source.replace('_', ' ')], ['Appointment', a.appointment_id],
    ].flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
    ui.moveDay.value = localDay(a.start_ms, p.time_zone);
    ui.moveTime.value = localTime(a.start_ms, p.time_zone);
    ui.moveNotice.checked = false;
    ui.moveBuffers.checked = false;
    ui.historyTable.hidden = true;
    ui.historyBody.replaceChildren();
    ui.detail.hidden = false;
    ui.detailHeading.textContent = `Appointment: ${a.patient_name}`;
    ui.detailHeading.focus();
  }

  /** A refusal that an override would let through says so next to the boxes. */
  function explain(err, notice, buffers) {
    const need = err && err.body && err.body.needs_override;
    if (need === 'short_notice') notice.focus();
    if (need === 'buffers') buffers.focus();
    const listed = err && err.body && Array.isArray(err.body.appointments) ? ` In the way: ${err.body.appointments.join(', ')}.` : '';
    const hint = need ? ' Tick the override and try again if you mean it.' : '';
    R.setError(`${err.message}${listed}${hint}`);
  }

  ui.moveForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const sel = state.selected;
    if (!sel || !ui.moveDay.value || !ui.moveTime.value) { R.setError('Choose the new day and time.'); return; }
    const reason = await askReason({ title: 'Why are you moving this visit?', submitLabel: 'Move', opener: $('sched-move') });
    if (reason == null) return;
    const body = {
      start: wallToInstant(ui.moveDay.value, ui.moveTime.value, sel.p.time_zone), reason,
      overrides: { short_notice: ui.moveNotice.checked, buffers: ui.moveBuffers.checked },
    };
    try {
      const moved = await api('POST', `/appointments/${enc(sel.a.appointment_id)}/move`, body);
      R.setError('');
      await load();
      const again = state.view && state.view.appointments.find((x) => x.appointment_id === moved.appointment_id);
      if (again) openAppointment(again, sel.p);
      R.setStatus(`Moved to ${localDay(moved.start_ms, sel.p.time_zone)} ${localTime(moved.start_ms, sel.p.time_zone)}.`);
    } catch (err) {
      if (!err.handled) explain(err, ui.moveNotice, ui.moveBuffers);
    }
  });

  async function setStatusTo(to, label) {
    const sel = state.selected;
    if (!sel) return;
    const reason = await askReason({ title: `Why ${label}?`, submitLabel: label });
    if (reason == null) return;
    try {
      await api('POST', `/appointments/${enc(sel.a.appointment_id)}/status`, { to, reason });
      R.setError('');
      await load();
      const again = state.view && state.view.appointments.find((x) => x.appointment_id === sel.a.appointment_id);
      if (again) openAppointment(again, sel.p); else ui.detail.hidden = true;
      R.setStatus(`Done: ${label}.`);
    } catch (err) {
      R.reportError(err, `Could not ${label}`);
    }
  }
  ui.cancel.addEventListener('click', () => setStatusTo('cancelled', 'cancel this visit'));
  ui.noshow.addEventListener('click', () => setStatusTo('no-show', 'mark it a no-show'));
  ui.completed.addEventListener('click', () => setStatusTo('completed', 'mark it completed'));

  ui.history.addEventListener('click', async () => {
    const sel = state.selected;
    if (!sel) return;
    const reason = await askReason({ title: 'Why are you opening this visit\'s history?', submitLabel: 'Show history', opener: ui.history });
    if (reason == null) return;
    try {
      const r = await api('POST', `/appointments/${enc(sel.a.appointment_id)}/notifications`, { reason });
      ui.historyBody.replaceChildren(...(r.history || []).map((h) => el('tr', { attrs: { 'data-event': h.event } }, [
        td(R.fmtDateTime(h.at_ms)), td(`${h.event}${h.from_state ? ` (${h.from_state} → ${h.to_state})` : ` → ${h.to_state}`}`),
        td(h.actor), td(h.reason || ''),
      ])));
      ui.historyTable.hidden = false;
      ui.historyTable.dataset.rows = String((r.history || []).length);
    } catch (err) {
      R.reportError(err, 'Could not show the history');
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Booking, blocking

  ui.bookProvider.addEventListener('change', fillTypes);

  ui.findForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!ui.findLast.value.trim() || !ui.findDob.value) { R.setError('Enter the last name and the date of birth.'); return; }
    const reason = await askReason({ title: 'Why are you looking up this patient?', submitLabel: 'Find', opener: $('sched-find') });
    if (reason == null) return;
    try {
      const r = await api('POST', '/patients/search', { last_name: ui.findLast.value.trim(), birth_date: ui.findDob.value, reason });
      const found = r.patients || [];
      ui.bookPatient.replaceChildren(...(found.length ? found.map((p) => el('option', {
        text: `${p.patient_id} (phone ending ${p.phone_last4 || '—'})`, attrs: { value: p.patient_id },
      })) : [el('option', { text: 'No patient matches', attrs: { value: '' } })]));
      R.setStatus(`${found.length} patient(s) found.`);
    } catch (err) {
      R.reportError(err, 'Could not search');
    }
  });

  ui.bookForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!ui.bookPatient.value || !ui.bookDay.value || !ui.bookTime.value || !ui.bookReason.value.trim()) {
      R.setError('Choose the patient, day and time, and say what the visit is for.');
      return;
    }
    const reason = await askReason({ title: 'Why are you booking this visit here?', submitLabel: 'Book', opener: $('sched-book') });
    if (reason == null) return;
    const provider = ui.bookProvider.value;
    const body = {
      patient_id: ui.bookPatient.value, provider_id: provider, type_code: ui.bookType.value,
      start: wallToInstant(ui.bookDay.value, ui.bookTime.value, zoneOf(provider)), visit_reason: ui.bookReason.value.trim(),
      overrides: { short_notice: ui.bookNotice.checked, buffers: ui.bookBuffers.checked }, reason,
    };
    try {
      const booked = await api('POST', '/appointments', body);
      R.setError('');
      await load();
      R.setStatus(`Booked (${booked.appointment_id}).`);
    } catch (err) {
      if (!err.handled) explain(err, ui.bookNotice, ui.bookBuffers);
    }
  });

  ui.blockForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const provider = ui.blockProvider.value;
    if (!provider || !ui.blockDay.value || !ui.blockStart.value || !ui.blockEnd.value) { R.setError('Choose the provider, day and times.'); return; }
    const reason = await askReason({ title: 'Why are you blocking this time?', submitLabel: 'Block', opener: $('sched-block') });
    if (reason == null) return;
    const zone = zoneOf(provider);
    const body = {
      provider_id: provider, label: ui.blockLabel.value.trim(), reason,
      start: wallToInstant(ui.blockDay.value, ui.blockStart.value, zone), end: wallToInstant(ui.blockDay.value, ui.blockEnd.value, zone),
    };
    try {
      await api('POST', '/schedule/blocks', body);
      R.setError('');
      await load();
      R.setStatus('Time blocked.');
    } catch (err) {
      if (!err.handled) explain(err, ui.blockLabel, ui.blockLabel);
    }
  });

  async function unblock(b) {
    const reason = await askReason({ title: 'Why are you removing this block?', submitLabel: 'Remove' });
    if (reason == null) return;
    try {
      await api('POST', `/schedule/blocks/${enc(b.busy_id)}/remove`, { reason });
      await load();
      R.setStatus('Block removed.');
    } catch (err) {
      R.reportError(err, 'Could not remove the block');
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The provider's calendar (clinic admins)

  ui.calendarLoad.addEventListener('click', async () => {
    const provider = ui.provider.value || ui.bookProvider.value;
    if (!provider) { R.setError('Choose a provider first.'); return; }
    try {
      const c = await api('GET', `/schedule/providers/${enc(provider)}/calendar`);
      ui.calendarJson.value = JSON.stringify(c, null, 2);
      ui.calendarJson.dataset.provider = provider;
      ui.orphans.replaceChildren();
    } catch (err) {
      R.reportError(err, 'Could not load the calendar');
    }
  });

  ui.calendarSave.addEventListener('click', async () => {
    const provider = ui.calendarJson.dataset.provider;
    let calendar;
    try { calendar = JSON.parse(ui.calendarJson.value); } catch (_) { R.setError('The calendar is not valid JSON.'); return; }
    if (!provider) { R.setError('Load a provider\'s calendar first.'); return; }
    const reason = await askReason({ title: 'Why are you changing this calendar?', submitLabel: 'Save', opener: ui.calendarSave });
    if (reason == null) return;
    const send = async (accept) => api('POST', `/schedule/providers/${enc(provider)}/calendar`, { calendar, accept_orphans: accept, reason });
    try {
      let applied;
      try {
        applied = await send(false);
      } catch (err) {
        const orphans = err.body && err.body.orphans;
        if (!orphans) throw err;
        showOrphans(orphans, provider);
        // eslint-disable-next-line no-alert
        if (!window.confirm(`${orphans.length} booked visit(s) would fall outside the new calendar. Keep them booked and apply the change?`)) return;
        applied = await send(true);
      }
      showOrphans(applied.orphans || [], provider);
      R.setError('');
      await load();
      R.setStatus('Calendar saved.');
    } catch (err) {
      R.reportError(err, 'Could not save the calendar');
    }
  });

  function showOrphans(orphans, provider) {
    const zone = zoneOf(provider);
    ui.orphans.replaceChildren(...orphans.map((o) => el('li', {
      text: `${o.appointment_id}: ${localDay(o.start_ms, zone)} ${localTime(o.start_ms, zone)} — ${o.why.replace(/_/g, ' ')}; move or cancel it with the patient.`,
    })));
  }

  // ---------------------------------------------------------------------------------------------

  ui.filters.addEventListener('submit', (e) => { e.preventDefault(); R.clearMessages(); load(); });

  R.registerView('schedule', {
    view: ui.view,
    nav: ui.nav,
    permission: 'view_schedule',
    show() {
      if (!ui.from.value) ui.from.value = today();
      for (const input of [ui.bookDay, ui.blockDay]) if (!input.value) input.value = ui.from.value;
      const change = R.can('change_schedule');
      for (const form of [ui.moveForm, ui.bookForm, ui.findForm, ui.blockForm]) form.closest('section').querySelectorAll('button').forEach((b) => { b.disabled = !change; });
      ui.calendar.hidden = !R.can('configure_schedule');
      load();
    },
    reset() {
      state.view = null;
      state.selected = null;
      ui.grid.replaceChildren();
      ui.grid.dataset.state = 'idle';
      ui.detail.hidden = true;
      ui.historyBody.replaceChildren();
      ui.bookPatient.replaceChildren(el('option', { text: 'Find the patient first', attrs: { value: '' } }));
      ui.calendarJson.value = '';
      ui.orphans.replaceChildren();
    },
  });
})();
