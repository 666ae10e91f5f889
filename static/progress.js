// speech-coach page, Progress view: a speaker's rehearsals over time (one SVG trend chart per
// metric, markers open that rehearsal's report), the last two side by side, goals and status.
// The speaker id is 128 random bits kept in this browser's storage: knowing it is what grants
// access to the history, so it is shown only on request and never sent anywhere but here.
// Hooks used by app.js: SpeechCoachProgress.query() (appended to the /analyze URL) and
// SpeechCoachProgress.onReport(report) (after a report is shown).
'use strict';

(function () {
  const KEY = 'speech-coach.speaker';
  const SVG = 'http://www.w3.org/2000/svg';
  const TEXT = {
    en: {
      heading: 'Progress over rehearsals',
      intro: 'Track your rehearsals to see whether you get better. Your history is tied to a private id kept in this browser.',
      start: 'Track my rehearsals',
      forget: 'Erase my history',
      showId: 'Show my id',
      titleLabel: 'Title of this rehearsal (optional)',
      metric: 'Metric',
      none: 'No rehearsals yet: analyse a recording and it appears here.',
      count: (n) => `${n} rehearsal${n === 1 ? '' : 's'}`,
      baseline: (b, n) => `baseline ${b} (median of ${n})`,
      best: (v) => `best ${v}`,
      compareHeading: 'Last two rehearsals',
      colMetric: 'Metric', colA: 'Previous', colB: 'Latest', colDelta: 'Change',
      better: 'better', worse: 'worse', same: 'no clear change',
      goalsHeading: 'Goals',
      goalMin: 'at least', goalMax: 'at most',
      addGoal: 'Save goal',
      noGoals: 'No goals yet.',
      status: { achieved: 'achieved', improving: 'improving', regressed: 'regressed', stalled: 'stalled' },
      erased: (n) => `History erased (${n} rehearsals).`,
      failed: (m) => `Could not load the history: ${m}`,
      open: (t) => `Open the report of ${t}`,
    },
    ru: {
      heading: 'Прогресс по репетициям',
      intro: 'Отслеживайте репетиции, чтобы видеть, становится ли лучше. История привязана к личному идентификатору в этом браузере.',
      start: 'Отслеживать мои репетиции',
      forget: 'Стереть мою историю',
      showId: 'Показать мой идентификатор',
      titleLabel: 'Название репетиции (необязательно)',
      metric: 'Показатель',
      none: 'Репетиций пока нет: проанализируйте запись, и она появится здесь.',
      count: (n) => `репетиций: ${n}`,
      baseline: (b, n) => `база ${b} (медиана ${n})`,
      best: (v) => `лучшее ${v}`,
      compareHeading: 'Две последние репетиции',
      colMetric: 'Показатель', colA: 'Предыдущая', colB: 'Последняя', colDelta: 'Изменение',
      better: 'лучше', worse: 'хуже', same: 'без заметных перемен',
      goalsHeading: 'Цели',
      goalMin: 'не меньше', goalMax: 'не больше',
      addGoal: 'Сохранить цель',
      noGoals: 'Целей пока нет.',
      status: { achieved: 'достигнута', improving: 'улучшается', regressed: 'ухудшилась', stalled: 'без движения' },
      erased: (n) => `История стёрта (репетиций: ${n}).`,
      failed: (m) => `Не удалось загрузить историю: ${m}`,
      open: (t) => `Открыть отчёт: ${t}`,
    },
  };
  const state = { speaker: null, data: null, metric: 'fillers_per_minute' };

  const $ = (id) => document.getElementById(id);
  const t = () => TEXT[document.documentElement.lang === 'ru' ? 'ru' : 'en'];
  const fmt = (x) => (x === null || x === undefined ? '–' : (Math.round(x * 100) / 100).toString());
  const signed = (x) => (x === null || x === undefined ? '–' : (x > 0 ? '+' : '') + fmt(x));
  const when = (ms) => new Date(ms).toLocaleString(document.documentElement.lang || 'en');

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const k of kids) e.append(k);
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  function load() {
    try { state.speaker = localStorage.getItem(KEY); } catch (_) { state.speaker = null; }
    if (state.speaker && !/^[0-9a-f]{32}$/.test(state.speaker)) state.speaker = null;
  }

  function save(id) {
    state.speaker = id;
    try {
      if (id) localStorage.setItem(KEY, id); else localStorage.removeItem(KEY);
    } catch (_) { /* storage off: the id lives as long as the page */ }
  }

  async function api(method, path, body) {
    const resp = await fetch(path, {
      method,
      headers: { Accept: 'application/json', ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await resp.json().catch(() => null);
    if (!resp.ok) {
      const err = new Error((json && json.message) || `HTTP ${resp.status}`);
      err.status = resp.status;
      throw err;
    }
    return json;
  }

  async function start() {
    const created = await api('POST', '/speakers');
    save(created.id);
    await refresh();
  }

  async function forget() {
    if (!state.speaker) return;
    const res = await api('DELETE', `/speakers/${state.speaker}`).catch((e) => ({ error: e }));
    save(null);
    state.data = null;
    render();
    if (res && !res.error) $('progress-status').textContent = t().erased(res.rehearsals_deleted);
  }

  async function refresh() {
    if (!state.speaker) { state.data = null; render(); return; }
    try {
      state.data = await api('GET', `/speakers/${state.speaker}/progress`);
      $('progress-status').textContent = '';
    } catch (e) {
      if (e.status === 404) save(null);
      state.data = null;
      $('progress-status').textContent = t().failed(e.message);
    }
    render();
  }

  function render() {
    const s = t();
    const view = $('progress-view');
    $('progress-h').textContent = s.heading;
    $('progress-intro').textContent = s.intro;
    $('progress-start').textContent = s.start;
    $('progress-forget').textContent = s.forget;
    $('progress-title-label').textContent = s.titleLabel;
    $('progress-metric-label').textContent = s.metric;
    const tracking = Boolean(state.speaker);
    $('progress-start').hidden = tracking;
    $('progress-forget').hidden = !tracking;
    $('progress-tracking').hidden = !tracking;
    const d = state.data;
    view.dataset.rehearsals = d ? String(d.rehearsal_count) : '0';
    $('progress-count').textContent = d ? s.count(d.rehearsal_count) : '';
    renderMetricChoice(d);
    renderChart(d);
    renderCompare(d);
    renderGoals(d);
  }

  function renderMetricChoice(d) {
    const sel = $('progress-metric');
    const names = d ? d.metrics.map((m) => m.metric) : [];
    if (sel.options.length !== names.length) {
      sel.replaceChildren(...names.map((n) => el('option', { value: n }, n.replace(/_/g, ' '))));
      const goalSel = $('goal-metric');
      goalSel.replaceChildren(...names.map((n) => el('option', { value: n }, n.replace(/_/g, ' '))));
    }
    if (names.includes(state.metric)) sel.value = state.metric;
  }

  function renderChart(d) {
    const box = $('progress-chart');
    const s = t();
    const m = d && d.metrics.find((x) => x.metric === state.metric);
    if (!d || !d.rehearsal_count || !m) {
      box.replaceChildren(el('p', { class: 'hint' }, s.none));
      $('progress-summary').textContent = '';
      return;
    }
    const W = 640, H = 220, P = 32;
    const pts = m.series;
    const vals = pts.map((p) => p.value).concat(m.baseline !== null ? [m.baseline] : []);
    let lo = Math.min(...vals), hi = Math.max(...vals);
    if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
    const x = (i) => (pts.length === 1 ? W / 2 : P + (i * (W - 2 * P)) / (pts.length - 1));
    const y = (v) => H - P - ((v - lo) / (hi - lo)) * (H - 2 * P);
    const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'trend', role: 'img', 'aria-label': state.metric });
    chart.append(svg('line', { x1: P, y1: H - P, x2: W - P, y2: H - P, class: 'axis' }));
    if (m.baseline !== null) {
      chart.append(svg('line', { x1: P, y1: y(m.baseline), x2: W - P, y2: y(m.baseline), class: 'baseline' }));
    }
    if (pts.length > 1) {
      chart.append(svg('polyline', { points: pts.map((p, i) => `${x(i)},${y(p.value)}`).join(' '), class: 'trend-line' }));
    }
    pts.forEach((p, i) => {
      const label = `${when(p.recorded_at_ms)}: ${fmt(p.value)}`;
      const dot = svg('circle', {
        cx: x(i), cy: y(p.value), r: 6, class: 'progress-point', tabindex: 0, role: 'button',
        'data-rehearsal': p.rehearsal_id, 'aria-label': s.open(label),
      });
      const title = svg('title', {});
      title.textContent = label;
      dot.append(title);
      chart.append(dot);
      const txt = svg('text', { x: x(i), y: y(p.value) - 10, 'text-anchor': 'middle', class: 'point-label' });
      txt.textContent = fmt(p.value);
      chart.append(txt);
    });
    box.replaceChildren(chart);
    const parts = [];
    if (m.baseline !== null) parts.push(s.baseline(fmt(m.baseline), m.baseline_rehearsals));
    if (m.best) parts.push(s.best(fmt(m.best.value)));
    $('progress-summary').textContent = parts.join(' · ');
  }

  function verdict(improved) {
    const s = t();
    if (improved === true) return s.better;
    if (improved === false) return s.worse;
    return s.same;
  }

  function renderCompare(d) {
    const s = t();
    const box = $('progress-compare');
    const c = d && d.comparison;
    $('progress-compare-h').textContent = s.compareHeading;
    $('progress-compare-h').hidden = !c;
    if (!c) { box.replaceChildren(); return; }
    const head = el('tr', {}, el('th', { scope: 'col' }, s.colMetric), el('th', { scope: 'col' }, s.colA),
      el('th', { scope: 'col' }, s.colB), el('th', { scope: 'col' }, s.colDelta));
    const rows = c.metrics.filter((r) => r.a !== null || r.b !== null).map((r) => el('tr', {
      'data-metric': r.metric,
      class: r.improved === true ? 'better' : r.improved === false ? 'worse' : 'same',
    }, el('th', { scope: 'row' }, r.metric.replace(/_/g, ' ')), el('td', {}, fmt(r.a)), el('td', {}, fmt(r.b)),
    el('td', { class: 'delta' }, `${signed(r.delta)} (${verdict(r.improved)})`)));
    box.replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows));
  }

  function renderGoals(d) {
    const s = t();
    $('progress-goals-h').textContent = s.goalsHeading;
    $('goal-save').textContent = s.addGoal;
    $('goal-min-label').textContent = s.goalMin;
    $('goal-max-label').textContent = s.goalMax;
    const list = $('progress-goals');
    const goals = (d && d.goals) || [];
    if (!goals.length) { list.replaceChildren(el('li', { class: 'hint' }, s.noGoals)); return; }
    list.replaceChildren(...goals.map((g) => {
      const bounds = [g.min !== undefined ? `≥ ${fmt(g.min)}` : '', g.max !== undefined ? `≤ ${fmt(g.max)}` : '']
        .filter(Boolean).join(', ');
      return el('li', { 'data-metric': g.metric, 'data-status': g.status },
        `${g.metric.replace(/_/g, ' ')} ${bounds}: ${fmt(g.value)} — `,
        el('strong', { class: `goal-${g.status}` }, s.status[g.status] || g.status));
    }));
  }

  async function saveGoal(ev) {
    ev.preventDefault();
    if (!state.speaker || !state.data) return;
    const metric = $('goal-metric').value;
    const num = (id) => { const v = $(id).value.trim(); return v === '' ? undefined : Number(v); };
    const goal = { metric, min: num('goal-min'), max: num('goal-max') };
    const others = state.data.goals.filter((g) => g.metric !== metric).map((g) => ({ metric: g.metric, min: g.min, max: g.max }));
    try {
      await api('PUT', `/speakers/${state.speaker}/goals`, { goals: others.concat([goal]) });
      await refresh();
    } catch (e) {
      $('progress-status').textContent = e.message;
    }
  }

  async function openRehearsal(id) {
    if (!state.speaker) return;
    try {
      const report = await api('GET', `/speakers/${state.speaker}/rehearsals/${id}`);
      if (window.SpeechCoach && window.SpeechCoach.showReport) window.SpeechCoach.showReport(report);
    } catch (e) {
      $('progress-status').textContent = e.message;
    }
  }

  function init() {
    load();
    $('progress-start').addEventListener('click', () => start().catch((e) => { $('progress-status').textContent = t().failed(e.message); }));
    $('progress-forget').addEventListener('click', () => forget());
    $('progress-metric').addEventListener('change', (ev) => { state.metric = ev.target.value; render(); });
    $('goal-form').addEventListener('submit', saveGoal);
    $('progress-chart').addEventListener('click', (ev) => {
      const dot = ev.target instanceof Element ? ev.target.closest('[data-rehearsal]') : null;
      if (dot) openRehearsal(dot.getAttribute('data-rehearsal'));
    });
    $('progress-chart').addEventListener('keydown', (ev) => {
      if (ev.key !== 'Enter' && ev.key !== ' ') return;
      const dot = ev.target instanceof Element ? ev.target.closest('[data-rehearsal]') : null;
      if (dot) { ev.preventDefault(); openRehearsal(dot.getAttribute('data-rehearsal')); }
    });
    // Re-label when the interface language changes.
    new MutationObserver(() => render()).observe(document.documentElement, { attributes: true, attributeFilter: ['lang'] });
    refresh();
  }

  window.SpeechCoachProgress = {
    /// Extra /analyze query parameters: the speaker and the rehearsal's title, when tracking.
    query() {
      if (!state.speaker) return '';
      const title = $('progress-title').value.trim();
      return `&speaker=${encodeURIComponent(state.speaker)}${title ? `&title=${encodeURIComponent(title)}` : ''}`;
    },
    /// A report was shown: if it was recorded as a rehearsal, the view is refreshed.
    onReport(report) {
      if (report && report.rehearsal) refresh();
    },
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
