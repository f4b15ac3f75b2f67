// voicegate reports: is the phone agent working, and how is the schedule used? Counts only —
// the API never sends a patient's identity, and this page shows nothing else.
//
// Charts are hand-built SVG (no charting library to vet, update or load under the page's CSP):
// each is an <svg role="img"> with a title and, under it, a table of the same numbers, which is
// what a screen reader reads and what a keyboard user can copy. The CSV download is a plain link
// to the export endpoint (same session cookie; the server audits it).
'use strict';

(() => {
  const R = window.voicegateReview;
  if (!R) return;
  const { api, el, td, enc } = R;
  const $ = (id) => document.getElementById(id);
  const ui = {
    view: $('reports-view'), nav: $('nav-reports'), filters: $('rep-filters'), from: $('rep-from'), to: $('rep-to'),
    csv: $('rep-csv'), body: $('rep-body'), summary: $('rep-summary'),
    outcomes: $('rep-outcomes'), hours: $('rep-hours'), booking: $('rep-booking'), couldNot: $('rep-could-not'),
    utilization: $('rep-utilization'), noShows: $('rep-no-shows'), sources: $('rep-sources'),
    cancellations: $('rep-cancellations'), scheduleNote: $('rep-schedule-note'),
  };
  const SVG = 'http://www.w3.org/2000/svg';
  const state = { loads: 0 };

  const LABELS = {
    emergency_script: 'Emergency script', transferred: 'Transferred to staff', booked: 'Booked', rescheduled: 'Rescheduled',
    cancelled: 'Cancelled', callback_requested: 'Callback requested', verification_failed: 'Verification failed',
    information_only: 'Information only', abandoned: 'Abandoned', ended_by_system: 'Ended by the system',
    in_progress: 'In progress', twilio: 'Phone', browser: 'Web page', phone_agent: 'Phone agent',
    browser_agent: 'Web agent', staff: 'Staff', ehr: 'EHR', unknown: 'Unknown', agent: 'Caller, through the agent',
    patient_sms: 'Patient, by text message', schedule_conflict: 'Schedule conflict', feeling_better: 'Feeling better',
    cost_or_coverage: 'Cost or coverage', transport: 'Transport', care_elsewhere: 'Care elsewhere',
    clinic_initiated: 'Clinic cancelled', illness: 'Illness', not_given: 'No reason given', other: 'Other',
    unclassified: 'Unclassified (older records)',
  };
  const label = (k) => LABELS[k] || k;
  const pct = (v) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);
  const num = (v) => (v === null || v === undefined ? '—' : String(v));

  function svg(tag, attrs, text) {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  }

  // Horizontal bars: one row per item, its value as a bar and a number; `format` renders values.
  function barChart(id, title, items, format = num, max) {
    const rowH = 22, labelW = 190, barW = 260, numW = 70;
    const top = Math.max(max === undefined ? 0 : max, ...items.map((i) => i.value || 0), 0);
    const root = svg('svg', {
      id, class: 'chart chart-bars', role: 'img', viewBox: `0 0 ${labelW + barW + numW} ${rowH * items.length + 4}`,
      'aria-labelledby': `${id}-title`,
    });
    root.append(svg('title', { id: `${id}-title` }, title));
    items.forEach((item, i) => {
      const y = i * rowH + 2;
      const w = top > 0 ? Math.round(((item.value || 0) / top) * barW) : 0;
      const g = svg('g', { class: 'bar', 'data-key': item.key, 'data-value': item.value === null ? '' : item.value });
      g.append(svg('text', { x: labelW - 6, y: y + 15, 'text-anchor': 'end', class: 'chart-label' }, item.label));
      g.append(svg('rect', { x: labelW, y: y + 3, width: w, height: rowH - 6, class: 'chart-bar' }));
      g.append(svg('text', { x: labelW + w + 6, y: y + 15, class: 'chart-value' }, format(item.value)));
      root.append(g);
    });
    return root;
  }

  // Columns: the 24 hours of the day, open hours unknown to the chart (the share is stated).
  function hourChart(id, title, counts) {
    const colW = 18, h = 120, base = h + 4;
    const top = Math.max(1, ...counts);
    const root = svg('svg', {
      id, class: 'chart chart-columns', role: 'img', viewBox: `0 0 ${colW * 24 + 10} ${base + 18}`,
      'aria-labelledby': `${id}-title`,
    });
    root.append(svg('title', { id: `${id}-title` }, title));
    counts.forEach((c, hour) => {
      const ch = Math.round((c / top) * h);
      const g = svg('g', { class: 'bar', 'data-key': String(hour).padStart(2, '0'), 'data-value': c });
      g.append(svg('rect', { x: hour * colW + 6, y: base - ch, width: colW - 4, height: ch, class: 'chart-bar' }));
      if (hour % 3 === 0) g.append(svg('text', { x: hour * colW + 6, y: base + 14, class: 'chart-label' }, String(hour).padStart(2, '0')));
      root.append(g);
    });
    return root;
  }

  // The numbers behind a chart, for screen readers and copying.
  function dataTable(caption, head, rows) {
    const body = el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c, i) => (
      i === 0 ? el('th', { text: c, attrs: { scope: 'row' } }) : td(c))))));
    return el('table', { className: 'data-table chart-table' }, [
      el('caption', { className: 'visually-hidden', text: caption }),
      el('thead', {}, [el('tr', {}, head.map((h) => el('th', { text: h, attrs: { scope: 'col' } })))]),
      body,
    ]);
  }

  function counts(list) {
    return list.map((c) => ({ key: c.key, label: label(c.key), value: c.count }));
  }

  function fill(node, ...children) {
    node.replaceChildren(...children);
  }

  function render(r) {
    const c = r.calls;
    fill(ui.summary,
      el('p', { text: `${c.total} calls from ${r.from} to ${r.to} (${r.time_zone}). ` +
        (c.after_hours === null ? 'Open hours are kept in the EHR, so after-hours calls are not counted here.'
          : `${c.after_hours} started outside open hours (${pct(c.after_hours_share)}).`) }));
    const outcomes = counts(c.outcomes);
    fill(ui.outcomes, el('h2', { text: 'Call outcomes' }), barChart('rep-chart-outcomes', 'Calls by outcome', outcomes),
      dataTable('Calls by outcome', ['Outcome', 'Calls'], outcomes.map((o) => [o.label, String(o.value)])));
    fill(ui.hours, el('h2', { text: 'Calls by hour of day' }),
      hourChart('rep-chart-hours', `Calls by hour of day, ${r.time_zone}`, c.by_hour),
      el('p', { className: 'muted', text: c.after_hours === null ? '' : `After hours: ${c.after_hours} (${pct(c.after_hours_share)})` }),
      dataTable('Calls by hour of day', ['Hour', 'Calls'], c.by_hour.map((n, h) => [String(h).padStart(2, '0'), String(n)])));
    const b = c.booking_time;
    const buckets = b.buckets.map((x) => ({
      key: x.key, value: x.count,
      label: x.key.startsWith('under_') ? `Under ${Number(x.key.slice(6, -1)) / 60} min` : `${Number(x.key.split('s_')[0]) / 60} min or more`,
    }));
    fill(ui.booking, el('h2', { text: 'From call start to a confirmed booking' }),
      el('p', { text: b.bookings === 0 ? 'No bookings in this range.'
        : `${b.bookings} bookings; average ${Math.round(b.average_seconds / 6) / 10} min, fastest ${Math.round(b.fastest_seconds / 6) / 10} min, slowest ${Math.round(b.slowest_seconds / 6) / 10} min.` }),
      barChart('rep-chart-booking', 'Bookings by time from call start', buckets),
      dataTable('Bookings by time from call start', ['Time', 'Bookings'], buckets.map((x) => [x.label, String(x.value)])));
    const could = c.could_not;
    fill(ui.couldNot, el('h2', { text: 'What the agent could not do' }),
      el('p', { text: `${could.callbacks_requested} calls ended with a callback request; ${could.transfers} were handed to staff.` }),
      could.tools.length === 0 ? el('p', { className: 'muted', text: 'Every tool call did what was asked.' })
        : dataTable('Tool calls that did not do what was asked', ['Tool', 'Outcome', 'Times'],
          could.tools.map((t) => [t.tool.replaceAll('_', ' '), t.outcome.replaceAll('_', ' '), String(t.count)])));

    const s = r.schedule;
    ui.scheduleNote.hidden = !!s;
    for (const n of [ui.utilization, ui.noShows, ui.sources]) n.hidden = !s;
    if (s) {
      const util = s.providers.map((p) => ({ key: p.provider_id, label: p.name, value: p.utilization }));
      fill(ui.utilization, el('h2', { text: 'Utilization' }),
        barChart('rep-chart-utilization', 'Booked share of bookable time, by provider', util, pct, 1),
        dataTable('Utilization by provider', ['Provider', 'Open min', 'Blocked min', 'Booked min', 'Utilization'],
          s.providers.map((p) => [p.name, String(p.open_minutes), String(p.blocked_minutes), String(p.booked_minutes), pct(p.utilization)])),
        dataTable('Utilization by location', ['Location', 'Open min', 'Blocked min', 'Booked min', 'Utilization'],
          s.locations.map((l) => [l.name, String(l.open_minutes), String(l.blocked_minutes), String(l.booked_minutes), pct(l.utilization)])));
      const ns = s.no_shows;
      fill(ui.noShows, el('h2', { text: 'No-shows' }),
        el('p', { text: `No-show rate ${pct(ns.rate)}: ${ns.no_shows} no-shows, ${ns.completed} completed, ${ns.unmarked} started visits not yet marked.` }),
        dataTable('No-shows by provider', ['Provider', 'Completed', 'No-shows', 'Not marked', 'Rate'],
          s.providers.map((p) => [p.name, String(p.no_shows.completed), String(p.no_shows.no_shows), String(p.no_shows.unmarked), pct(p.no_shows.rate)])));
      const sources = counts(s.bookings_by_source);
      fill(ui.sources, el('h2', { text: 'Where bookings came from' }),
        barChart('rep-chart-sources', 'New bookings by source', sources),
        dataTable('New bookings by source', ['Source', 'Bookings'], sources.map((x) => [x.label, String(x.value)])));
    }
    const x = r.cancellations;
    const reasons = counts(x.by_reason);
    fill(ui.cancellations, el('h2', { text: 'Cancellations' }),
      el('p', { text: `${x.total} cancellations, ${x.late} of them within 24 hours of the visit.` }),
      barChart('rep-chart-cancellations', 'Cancellations by reason', reasons),
      dataTable('Cancellations by reason', ['Reason', 'Cancellations'], reasons.map((o) => [o.label, String(o.value)])),
      dataTable('Cancellations by who cancelled', ['Cancelled by', 'Cancellations'], counts(x.by_who).map((o) => [o.label, String(o.value)])));
  }

  function query() {
    return `from=${enc(ui.from.value)}&to=${enc(ui.to.value)}`;
  }

  async function load() {
    R.clearMessages();
    const mine = ++state.loads;
    ui.body.dataset.state = 'loading';
    ui.csv.hidden = !R.can('export_reports');
    ui.csv.href = `/review/api/reports/export.csv?${query()}`;
    try {
      const report = await api('GET', `/reports?${query()}`);
      if (mine !== state.loads) return;
      if (!ui.from.value) ui.from.value = report.from;
      if (!ui.to.value) ui.to.value = report.to;
      ui.csv.href = `/review/api/reports/export.csv?${query()}`;
      render(report);
      ui.body.dataset.state = 'loaded';
    } catch (err) {
      if (mine !== state.loads) return;
      ui.body.dataset.state = 'error';
      R.reportError(err);
    }
  }

  ui.filters.addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });

  R.registerView('reports', {
    view: ui.view,
    nav: ui.nav,
    permission: 'view_reports',
    show() {
      load();
    },
    reset() {
      state.loads += 1;
      ui.from.value = '';
      ui.to.value = '';
      for (const n of [ui.summary, ui.outcomes, ui.hours, ui.booking, ui.couldNot, ui.utilization, ui.noShows, ui.sources, ui.cancellations]) n.replaceChildren();
      ui.body.dataset.state = 'idle';
    },
  });
})();
