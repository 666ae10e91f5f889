// speech-coach page: upload a recording, follow the upload and the analysis, show the report.
// No libraries and no build step: this file is embedded in the binary as is.
// XMLHttpRequest (not fetch) because only it reports upload progress. The analysis runs as a job
// (POST /jobs): its events (EventSource on /jobs/{id}/events) drive the stage, the percentage,
// the ETA and the growing transcript; the job id in the URL lets a reload or a second tab
// reattach to it.
'use strict';

(function () {
  const I18N = {
    en: {
      skip: 'Skip to content',
      title: 'Speech coach',
      tagline: 'Upload a recording of your talk and get feedback on pace, filler words and pauses.',
      uiLanguage: 'Interface language',
      uploadHeading: 'Your recording',
      dropMain: 'Choose an audio or video file, or drop it here',
      limit: (size, dur) => `Audio or video, up to ${size} and ${dur}.`,
      limitUnknown: 'Audio or video file.',
      selected: (name, size) => `Selected: ${name} (${size})`,
      talkLanguage: 'Language of the talk',
      langAuto: 'Detect automatically',
      langRu: 'Russian',
      langEn: 'English',
      analyze: 'Analyse',
      cancel: 'Cancel',
      retry: 'Try again',
      uploading: (pct, done, total) => `Uploading… ${pct} % (${done} of ${total})`,
      uploadingUnknown: (done) => `Uploading… ${done}`,
      analysing: (t) => `Analysing the recording… ${t} elapsed`,
      stages: {
        queued: 'Waiting for a free analysis slot',
        decode: 'Decoding the recording',
        vad: 'Finding speech and pauses',
        asr: 'Transcribing',
        analysis: 'Measuring pace, fillers, pauses and voice',
        feedback: 'Writing feedback',
      },
      queuePosition: (n) => `position ${n} in the queue`,
      transcribed: (pct, done, total) => `${pct} % of the audio transcribed (${done} of ${total})`,
      eta: (left) => `about ${left} left`,
      partialHeading: 'Transcript so far',
      jobGone: 'This analysis is no longer available',
      jobGoneMsg: 'Finished analyses are kept for a while and then removed. Upload the recording again.',
      jobCancelled: 'Analysis cancelled',
      jobCancelledMsg: 'The server stopped analysing this recording.',
      analysingHint: 'Transcription takes roughly a tenth to a third of the recording’s length.',
      reportHeading: 'Report',
      reportSub: (name, lang) => `${name} · language: ${lang}`,
      downloadJson: 'Download JSON',
      analyzeAnother: 'Analyse another file',
      cacheHit: (tier) => `This result comes from the cache (${tier}): the same file was analysed before with the same settings, so it was returned without analysing again.`,
      cacheCoalesced: 'An identical analysis was already running; this result was shared with it.',
      tiers: { memory: 'memory', redis: 'shared Redis cache', disk: 'disk' },
      statDuration: 'Duration',
      statSpeaking: 'Speaking time',
      statSpeakingDetail: (v) => `voice detected for ${v}`,
      statPace: 'Pace',
      wpm: 'words/min',
      band: (a, b) => `comfortable: ${a}–${b}`,
      paceOk: 'comfortable',
      paceFast: 'too fast',
      paceSlow: 'too slow',
      statFillers: 'Filler words',
      perMin: '/min',
      fillersDetail: (n, p) => `${n} in total · ${p} per 100 words`,
      statPauses: 'Pauses',
      pausesDetail: (n, m) => `long: ${n} · longest ${m}`,
      statRatio: 'Speaking ratio',
      ratioDetail: 'share of the recording with voice',
      statWords: 'Words',
      wordsDetail: (n) => `${n} distinct`,
      timelineHeading: 'Timeline',
      timelineHint: 'Select a marker to play that moment.',
      player: 'Recording',
      zoom: 'Zoom',
      zoomIn: 'Zoom in',
      zoomOut: 'Zoom out',
      zoomFit: 'Whole talk',
      timelineLabel: 'Timeline of the recording: speech and silence, filler words, long pauses and pace.',
      legendSpeech: 'speech',
      legendSilence: 'silence',
      legendFiller: 'filler word',
      legendLong: 'pause of 1 s or more',
      legendAwkward: 'awkward pause',
      legendPace: 'pace, words/min',
      legendBand: 'comfortable pace',
      rowFillers: 'fillers',
      rowSpeech: 'speech',
      rowPace: 'pace',
      fillerAt: (w, t) => `Filler “${w}” at ${t}`,
      acousticFiller: 'hesitation sound',
      pauseAt: (d, t, cls) => `${cls} pause of ${d} at ${t}`,
      pauseClass: { long: 'Long', awkward: 'Awkward', natural: 'Natural', deliberate: 'Deliberate' },
      burst: (n) => `${n} fillers close together`,
      monotone: 'monotone stretch',
      adviceHeading: 'Advice',
      noAdvice: 'No advice: nothing stood out.',
      severity: { info: 'Note', suggestion: 'Suggestion', warning: 'Important' },
      playAt: (t) => `Play from ${t}`,
      feedbackHeading: 'Coach’s feedback',
      sourceGigachat: 'Written by GigaChat',
      sourceModel: (m) => `model ${m}`,
      sourceRules: 'Rule-based feedback, built from the measurements (no AI model involved)',
      reason: {
        disabled: 'GigaChat is not configured on this server',
        breaker_open: 'GigaChat failed repeatedly and is paused for a while',
        timeout: 'GigaChat did not answer in time',
        upstream_error: 'GigaChat returned an error',
        rate_limited: 'GigaChat is rate-limiting requests',
        invalid_reply: 'GigaChat’s reply could not be used',
      },
      confidence: (p) => `confidence ${p}`,
      strengths: 'Strengths',
      areas: 'Areas to improve',
      recommendations: 'Recommendations',
      insights: 'Key insights',
      transcriptHeading: 'Transcript',
      transcriptHint: 'Filler words are highlighted. Select a time to play from there.',
      noTranscript: 'No speech was recognised.',
      footer: 'Speech coach · API:',
      errors: {
        tooLargeLocal: 'The file is too large',
        tooLargeLocalMsg: (size, limit) => `The file is ${size}; this server accepts up to ${limit}.`,
        emptyLocal: 'The file is empty',
        emptyLocalMsg: 'Choose a file that contains a recording.',
        400: 'The request was not accepted',
        413: 'The file is too large',
        audio_too_long: 'The recording is too long',
        audioTooLongHint: (d) => `This server analyses recordings up to ${d}. Trim the recording or split it.`,
        415: 'This file format is not supported',
        formatHint: 'Upload audio (MP3, WAV, M4A, OGG, Opus, FLAC, WebM) or video (MP4, MKV, MOV, WebM) with a sound track.',
        422: 'The file could not be used',
        no_audio: 'The file has no sound track',
        503: 'The server is busy',
        retryIn: (s) => `Try again in ${s} s.`,
        retryNow: 'You can try again now.',
        504: 'The analysis took too long',
        timeoutHint: 'Try a shorter recording, or try again later.',
        502: 'A service the analysis depends on failed',
        500: 'The server failed to analyse the file',
        other: (s) => `The server answered with an error (HTTP ${s})`,
        network: 'The server could not be reached',
        networkMsg: 'Check your connection and try again. If the file is large, the connection may have been cut during the upload.',
        badReply: 'The server’s answer could not be read',
        badReplyMsg: 'The report was not valid JSON.',
        cancelled: 'Upload cancelled',
        cancelledMsg: 'Nothing was analysed.',
      },
      requestId: (id) => `Request id: ${id}`,
      units: { B: 'B', KB: 'KB', MB: 'MB', GB: 'GB', s: 's', min: 'min', h: 'h' },
    },
    ru: {
      skip: 'К содержимому',
      title: 'Тренер выступлений',
      tagline: 'Загрузите запись выступления и получите разбор темпа, слов-паразитов и пауз.',
      uiLanguage: 'Язык интерфейса',
      uploadHeading: 'Ваша запись',
      dropMain: 'Выберите аудио- или видеофайл или перетащите его сюда',
      limit: (size, dur) => `Аудио или видео, до ${size} и до ${dur}.`,
      limitUnknown: 'Аудио- или видеофайл.',
      selected: (name, size) => `Выбран: ${name} (${size})`,
      talkLanguage: 'Язык выступления',
      langAuto: 'Определить автоматически',
      langRu: 'Русский',
      langEn: 'Английский',
      analyze: 'Анализировать',
      cancel: 'Отменить',
      retry: 'Попробовать снова',
      uploading: (pct, done, total) => `Загрузка… ${pct} % (${done} из ${total})`,
      uploadingUnknown: (done) => `Загрузка… ${done}`,
      analysing: (t) => `Анализируем запись… прошло ${t}`,
      stages: {
        queued: 'Ждём свободного места для анализа',
        decode: 'Декодируем запись',
        vad: 'Ищем речь и паузы',
        asr: 'Распознаём речь',
        analysis: 'Измеряем темп, паразиты, паузы и голос',
        feedback: 'Пишем отзыв',
      },
      queuePosition: (n) => `место в очереди: ${n}`,
      transcribed: (pct, done, total) => `распознано ${pct} % записи (${done} из ${total})`,
      eta: (left) => `осталось около ${left}`,
      partialHeading: 'Распознанный текст',
      jobGone: 'Этот анализ больше недоступен',
      jobGoneMsg: 'Готовые анализы хранятся какое-то время, потом удаляются. Загрузите запись ещё раз.',
      jobCancelled: 'Анализ отменён',
      jobCancelledMsg: 'Сервер прекратил анализ этой записи.',
      analysingHint: 'Распознавание речи занимает примерно от десятой до трети длительности записи.',
      reportHeading: 'Отчёт',
      reportSub: (name, lang) => `${name} · язык: ${lang}`,
      downloadJson: 'Скачать JSON',
      analyzeAnother: 'Проанализировать другой файл',
      cacheHit: (tier) => `Результат взят из кэша (${tier}): этот файл уже анализировали с теми же настройками, поэтому повторный анализ не понадобился.`,
      cacheCoalesced: 'Такой же анализ уже выполнялся; этот результат получен вместе с ним.',
      tiers: { memory: 'память', redis: 'общий кэш Redis', disk: 'диск' },
      statDuration: 'Длительность',
      statSpeaking: 'Время речи',
      statSpeakingDetail: (v) => `голос звучит ${v}`,
      statPace: 'Темп',
      wpm: 'слов/мин',
      band: (a, b) => `комфортно: ${a}–${b}`,
      paceOk: 'комфортно',
      paceFast: 'слишком быстро',
      paceSlow: 'слишком медленно',
      statFillers: 'Слова-паразиты',
      perMin: '/мин',
      fillersDetail: (n, p) => `всего ${n} · ${p} на 100 слов`,
      statPauses: 'Паузы',
      pausesDetail: (n, m) => `длинных: ${n} · самая долгая ${m}`,
      statRatio: 'Доля речи',
      ratioDetail: 'часть записи, где звучит голос',
      statWords: 'Слова',
      wordsDetail: (n) => `различных: ${n}`,
      timelineHeading: 'Шкала времени',
      timelineHint: 'Выберите отметку, чтобы прослушать этот момент.',
      player: 'Запись',
      zoom: 'Масштаб',
      zoomIn: 'Крупнее',
      zoomOut: 'Мельче',
      zoomFit: 'Вся запись',
      timelineLabel: 'Шкала времени записи: речь и тишина, слова-паразиты, длинные паузы и темп.',
      legendSpeech: 'речь',
      legendSilence: 'тишина',
      legendFiller: 'слово-паразит',
      legendLong: 'пауза от 1 с',
      legendAwkward: 'неловкая пауза',
      legendPace: 'темп, слов/мин',
      legendBand: 'комфортный темп',
      rowFillers: 'паразиты',
      rowSpeech: 'речь',
      rowPace: 'темп',
      fillerAt: (w, t) => `Слово-паразит «${w}» на ${t}`,
      acousticFiller: 'звук колебания',
      pauseAt: (d, t, cls) => `${cls} пауза ${d} на ${t}`,
      pauseClass: { long: 'Длинная', awkward: 'Неловкая', natural: 'Естественная', deliberate: 'Смысловая' },
      burst: (n) => `${n} паразитов подряд`,
      monotone: 'монотонный участок',
      adviceHeading: 'Советы',
      noAdvice: 'Советов нет: ничего не выделяется.',
      severity: { info: 'Заметка', suggestion: 'Совет', warning: 'Важно' },
      playAt: (t) => `Воспроизвести с ${t}`,
      feedbackHeading: 'Отзыв тренера',
      sourceGigachat: 'Написано GigaChat',
      sourceModel: (m) => `модель ${m}`,
      sourceRules: 'Отзыв по правилам, составлен из измерений (без нейросети)',
      reason: {
        disabled: 'GigaChat не настроен на этом сервере',
        breaker_open: 'GigaChat несколько раз подряд не ответил и временно отключён',
        timeout: 'GigaChat не ответил вовремя',
        upstream_error: 'GigaChat вернул ошибку',
        rate_limited: 'GigaChat ограничил частоту запросов',
        invalid_reply: 'Ответ GigaChat не удалось использовать',
      },
      confidence: (p) => `уверенность ${p}`,
      strengths: 'Сильные стороны',
      areas: 'Что улучшить',
      recommendations: 'Рекомендации',
      insights: 'Главное',
      transcriptHeading: 'Расшифровка',
      transcriptHint: 'Слова-паразиты выделены. Выберите время, чтобы прослушать с этого места.',
      noTranscript: 'Речь не распознана.',
      footer: 'Тренер выступлений · API:',
      errors: {
        tooLargeLocal: 'Файл слишком большой',
        tooLargeLocalMsg: (size, limit) => `Размер файла ${size}; сервер принимает до ${limit}.`,
        emptyLocal: 'Файл пустой',
        emptyLocalMsg: 'Выберите файл с записью.',
        400: 'Запрос не принят',
        413: 'Файл слишком большой',
        audio_too_long: 'Запись слишком длинная',
        audioTooLongHint: (d) => `Сервер анализирует записи длительностью до ${d}. Обрежьте запись или разделите её.`,
        415: 'Формат файла не поддерживается',
        formatHint: 'Загрузите аудио (MP3, WAV, M4A, OGG, Opus, FLAC, WebM) или видео (MP4, MKV, MOV, WebM) со звуком.',
        422: 'Файл не удалось обработать',
        no_audio: 'В файле нет звуковой дорожки',
        503: 'Сервер занят',
        retryIn: (s) => `Попробуйте снова через ${s} с.`,
        retryNow: 'Можно попробовать снова.',
        504: 'Анализ занял слишком много времени',
        timeoutHint: 'Попробуйте запись покороче или повторите позже.',
        502: 'Не ответил сервис, нужный для анализа',
        500: 'Сервер не смог проанализировать файл',
        other: (s) => `Сервер ответил ошибкой (HTTP ${s})`,
        network: 'Не удалось связаться с сервером',
        networkMsg: 'Проверьте подключение и попробуйте снова. Если файл большой, соединение могло оборваться во время загрузки.',
        badReply: 'Ответ сервера не удалось прочитать',
        badReplyMsg: 'Отчёт не является корректным JSON.',
        cancelled: 'Загрузка отменена',
        cancelledMsg: 'Ничего не анализировалось.',
      },
      requestId: (id) => `Идентификатор запроса: ${id}`,
      units: { B: 'Б', KB: 'КБ', MB: 'МБ', GB: 'ГБ', s: 'с', min: 'мин', h: 'ч' },
    },
  };

  const LANG_KEY = 'speech-coach.ui-lang';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  /// Pause classes that get a marker on the timeline: everything from 1 s up (shorter ones are
  /// ordinary breathing). Deliberate pauses are drawn lighter than long and awkward ones.
  const MARKED_PAUSES = ['deliberate', 'long', 'awkward'];
  /// Below this many pixels per second markers a few seconds apart merge: a long talk is drawn
  /// wider than the screen and scrolls (zoom out shows it whole).
  const MIN_PX_PER_SEC = 6;
  const MAX_PX_PER_SEC = 400;

  const state = {
    ui: pickUiLanguage(),
    config: null,
    file: null,
    xhr: null,
    timer: null,
    /// The job being followed (its id is also in the URL: ?job=…), its event stream, and what
    /// its events said so far.
    job: null,
    events: null,
    progress: null,
    report: null,
    raw: null,
    xCache: null,
    mediaUrl: null,
    lastError: null,
    /// Timeline scale chosen with the zoom buttons; null = automatic.
    pxPerSec: null,
  };

  const $ = (id) => document.getElementById(id);
  const t = () => I18N[state.ui];

  // ---------- language ----------

  function pickUiLanguage() {
    let saved = null;
    try { saved = localStorage.getItem(LANG_KEY); } catch (_) { /* storage may be off */ }
    if (saved && I18N[saved]) return saved;
    const prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
    for (const p of prefs) {
      const base = String(p).toLowerCase().split('-')[0];
      if (I18N[base]) return base;
    }
    return 'en';
  }

  function setUiLanguage(lang) {
    state.ui = lang;
    try { localStorage.setItem(LANG_KEY, lang); } catch (_) { /* ignore */ }
    applyTexts();
  }

  function applyTexts() {
    const s = t();
    document.documentElement.lang = state.ui;
    document.title = s.title;
    for (const node of document.querySelectorAll('[data-i18n]')) {
      const v = s[node.dataset.i18n];
      if (typeof v === 'string') node.textContent = v;
    }
    for (const node of document.querySelectorAll('[data-i18n-aria]')) {
      const v = s[node.dataset.i18nAria];
      if (typeof v === 'string') node.setAttribute('aria-label', v);
    }
    for (const b of document.querySelectorAll('[data-ui-lang]')) {
      b.setAttribute('aria-pressed', String(b.dataset.uiLang === state.ui));
    }
    renderLimit();
    renderSelected();
    if (state.lastError) showError(state.lastError);
    if (state.report) renderReport();
  }

  // ---------- formatting ----------

  // Formatters are costly to build and a long talk formats thousands of numbers: keep them.
  const formatters = new Map();
  function num(v, digits) {
    if (v === null || v === undefined || !isFinite(v)) return '—';
    const key = `${state.ui}/${digits}`;
    let f = formatters.get(key);
    if (!f) {
      f = new Intl.NumberFormat(state.ui, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
      formatters.set(key, f);
    }
    return f.format(v);
  }

  function bytes(n) {
    const u = t().units;
    if (n < 1024) return `${n}\u00a0${u.B}`;
    if (n < 1024 * 1024) return `${num(n / 1024, 0)}\u00a0${u.KB}`;
    if (n < 1024 * 1024 * 1024) return `${num(n / 1048576, n < 10 * 1048576 ? 1 : 0)}\u00a0${u.MB}`;
    return `${num(n / 1073741824, 1)}\u00a0${u.GB}`;
  }

  /// A length for people: "1.5 s", "12 min", "1 h 30 min".
  function span(sec) {
    const u = t().units;
    if (sec < 60) return `${num(sec, 1)}\u00a0${u.s}`;
    if (sec < 3600) return `${num(Math.round(sec / 60), 0)}\u00a0${u.min}`;
    const h = Math.floor(sec / 3600);
    const m = Math.round((sec % 3600) / 60);
    return m ? `${h}\u00a0${u.h} ${m}\u00a0${u.min}` : `${h}\u00a0${u.h}`;
  }

  /// A position for a clock: m:ss, h:mm:ss; tenths when asked (fillers are short). Truncated,
  /// like the player's own clock, so a filler at 0.5 s reads 0:00 in both.
  function clock(sec, tenths) {
    sec = Math.max(0, sec || 0);
    const whole = Math.floor(sec);
    const h = Math.floor(whole / 3600);
    const m = Math.floor((whole % 3600) / 60);
    const s = whole % 60;
    const ss = String(s).padStart(2, '0');
    let out = h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
    if (tenths) out += '.' + Math.floor((sec - whole) * 10);
    return out;
  }

  // ---------- DOM helpers ----------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  function sv(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function timeButton(sec, label) {
    return el('button', {
      type: 'button',
      class: 'time-btn',
      'data-seek': sec.toFixed(2),
      'aria-label': t().playAt(clock(sec)),
    }, label || clock(sec));
  }

  // ---------- upload form ----------

  function renderLimit() {
    const s = t();
    const c = state.config;
    $('limit-text').textContent = c
      ? s.limit(bytes(c.max_file_size_bytes), span(c.max_audio_duration_sec))
      : s.limitUnknown;
  }

  function renderSelected() {
    $('file-name').textContent = state.file ? t().selected(state.file.name, bytes(state.file.size)) : '';
  }

  function chooseFile(file) {
    state.file = file || null;
    hideError();
    renderSelected();
    $('analyze').disabled = !state.file;
    if (state.file) checkLocally(state.file);
  }

  /// Refuses what the server would refuse anyway, before spending the upload on it.
  function checkLocally(file) {
    if (file.size === 0) {
      showError({ kind: 'local', title: 'emptyLocal', message: () => t().errors.emptyLocalMsg });
      $('analyze').disabled = true;
      return false;
    }
    const limit = state.config && state.config.max_file_size_bytes;
    if (limit && file.size > limit) {
      showError({
        kind: 'local',
        title: 'tooLargeLocal',
        message: () => t().errors.tooLargeLocalMsg(bytes(file.size), bytes(limit)),
      });
      $('analyze').disabled = true;
      return false;
    }
    return true;
  }

  function startUpload() {
    const file = state.file;
    if (!file || !checkLocally(file)) return;
    hideError();
    detachJob();
    state.report = null;
    clearReport();
    setBusy(true);

    const lang = $('lang').value;
    const form = new FormData();
    form.append('file', file, file.name);
    const xhr = new XMLHttpRequest();
    state.xhr = xhr;
    // progress.js adds the speaker and the rehearsal's title when the user tracks rehearsals.
    const extra = window.SpeechCoachProgress ? window.SpeechCoachProgress.query() : '';
    state.tracked = extra !== '';
    xhr.open('POST', `/jobs?language=${encodeURIComponent(lang)}${extra}`);
    xhr.responseType = 'text';
    xhr.setRequestHeader('Accept', 'application/json');

    const bar = $('progress-bar');
    const text = $('progress-text');
    bar.value = 0;
    text.textContent = t().uploading(0, bytes(0), bytes(file.size));
    xhr.upload.addEventListener('progress', (ev) => {
      if (ev.lengthComputable) {
        const pct = Math.min(100, Math.round((ev.loaded / ev.total) * 100));
        bar.value = pct;
        text.textContent = t().uploading(pct, bytes(Math.min(ev.loaded, file.size)), bytes(file.size));
      } else {
        text.textContent = t().uploadingUnknown(bytes(ev.loaded));
      }
    });
    xhr.upload.addEventListener('load', () => startAnalysing());
    xhr.addEventListener('load', () => onResponse(xhr));
    xhr.addEventListener('error', () => finish(() => showError({ kind: 'network' })));
    xhr.addEventListener('abort', () => finish(() => showError({ kind: 'cancelled' })));
    xhr.send(form);
  }

  /// Between the end of the upload and the job's first event (the server answers POST /jobs once
  /// the job is accepted).
  function startAnalysing() {
    const bar = $('progress-bar');
    bar.removeAttribute('value');
    $('progress-text').textContent = t().analysing(clock(0));
  }

  function setBusy(busy) {
    $('progress').hidden = !busy;
    $('analyze').disabled = busy || !state.file;
    $('file').disabled = busy;
    $('lang').disabled = busy;
    $('drop').classList.toggle('busy', busy);
  }

  function finish(then) {
    clearInterval(state.timer);
    state.timer = null;
    state.xhr = null;
    setBusy(false);
    then();
  }

  function onResponse(xhr) {
    state.xhr = null;
    const body = xhr.responseText || '';
    let json = null;
    try { json = body ? JSON.parse(body) : null; } catch (_) { json = null; }
    if (xhr.status >= 200 && xhr.status < 300) {
      if (!json || typeof json !== 'object' || typeof json.id !== 'string') {
        finish(() => showError({ kind: 'badReply' }));
        return;
      }
      attachJob(json.id, json);
      return;
    }
    const retryAfter = parseInt(xhr.getResponseHeader('Retry-After') || '', 10);
    finish(() => showError({
      kind: 'http',
      status: xhr.status,
      code: json && json.error,
      serverMessage: json && json.message,
      requestId: (json && json.request_id) || xhr.getResponseHeader('x-request-id'),
      retryAt: isFinite(retryAfter) ? Date.now() + retryAfter * 1000 : null,
    }));
  }

  // ---------- the job: progress from its events ----------

  function jobFromUrl() {
    const id = new URLSearchParams(location.search).get('job');
    return id && /^[0-9a-f]{32}$/.test(id) ? id : null;
  }

  function setJobInUrl(id) {
    const url = new URL(location.href);
    if (id) url.searchParams.set('job', id);
    else url.searchParams.delete('job');
    history.replaceState(null, '', url);
  }

  /// Follows job `id`: its URL, its events, and (for a job seen before) its current state.
  function attachJob(id, known) {
    detachJob();
    state.job = id;
    state.progress = { stage: 'queued', fraction: 0, done: 0, total: null, eta: null, etaAt: 0, queue: null, words: [] };
    setJobInUrl(id);
    setBusy(true);
    $('partial').replaceChildren();
    $('partial-box').hidden = true;
    const started = performance.now();
    clearInterval(state.timer);
    state.timer = setInterval(() => renderProgress(started), 1000);
    if (known) applySnapshot(known);
    renderProgress(started);
    if (known && known.state === 'done' && known.report) {
      showJobReport(known.report);
      return;
    }
    if (known && known.state === 'failed') { jobFailed(known.error || {}); return; }
    if (known && known.state === 'cancelled') { jobCancelled(); return; }
    // The log after what the snapshot showed (a reload got the transcript so far from it);
    // EventSource itself resumes with Last-Event-ID after a dropped connection.
    const after = known && known.last_event_id ? `?last_event_id=${known.last_event_id}` : '';
    const es = new EventSource(`/jobs/${id}/events${after}`);
    state.events = es;
    const on = (kind, fn) => es.addEventListener(kind, (ev) => {
      if (state.events !== es) return;
      let data = null;
      try { data = JSON.parse(ev.data); } catch (_) { return; }
      fn(data);
      renderProgress(started);
    });
    on('state', (d) => { state.progress.stage = d.stage || state.progress.stage; });
    on('stage', (d) => {
      state.progress.stage = d.stage;
      if (d.stage !== 'queued') state.progress.queue = null;
    });
    on('progress', (d) => {
      if (d.snapshot) {
        // Repeated state while nothing happens: refresh the ETA and the queue position only.
        if (d.eta_sec != null) { state.progress.eta = d.eta_sec; state.progress.etaAt = Date.now(); }
        state.progress.queue = d.queue_position;
        return;
      }
      applyProgress(d.progress, d.eta_sec);
      if (d.words && d.words.length) appendPartial(d.words);
    });
    on('done', (d) => { es.close(); fetchJob(id).then((j) => j && j.report ? showJobReport(j.report, d.cache) : null); });
    on('failed', (d) => { es.close(); jobFailed(d.error || {}); });
    on('cancelled', () => { es.close(); jobCancelled(); });
    es.addEventListener('error', () => {
      // Closed by the server after a terminal event, or gone (expired): look at the job itself.
      if (state.events !== es || es.readyState !== EventSource.CLOSED) return;
      fetchJob(id).then((j) => {
        if (!j || state.job !== id) return;
        if (j.state === 'done' && j.report) showJobReport(j.report);
        else if (j.state === 'failed') jobFailed(j.error || {});
        else if (j.state === 'cancelled') jobCancelled();
      });
    });
  }

  function detachJob() {
    if (state.events) state.events.close();
    state.events = null;
    state.job = null;
  }

  async function fetchJob(id) {
    try {
      const resp = await fetch(`/jobs/${id}`, { headers: { Accept: 'application/json' } });
      if (resp.status === 404) {
        if (state.job === id) {
          detachJob();
          setJobInUrl(null);
          finish(() => showError({ kind: 'jobGone' }));
        }
        return null;
      }
      return resp.ok ? await resp.json() : null;
    } catch (_) {
      return null;
    }
  }

  function applySnapshot(j) {
    state.progress.stage = j.stage;
    state.progress.queue = j.queue_position;
    applyProgress(j.progress, j.eta_sec);
    if (j.partial && j.partial.words && j.partial.words.length && j.state !== 'done') appendPartial(j.partial.words);
  }

  function applyProgress(p, eta) {
    if (!p) return;
    const pr = state.progress;
    // Never backwards (a snapshot may be older than an event already shown).
    pr.fraction = Math.max(pr.fraction, p.fraction || 0);
    pr.done = Math.max(pr.done, p.audio_sec_done || 0);
    if (p.audio_sec_total != null) pr.total = p.audio_sec_total;
    if (eta != null) { pr.eta = eta; pr.etaAt = Date.now(); }
  }

  function appendPartial(words) {
    const box = $('partial');
    const text = words.map((w) => String(w.word).trim()).filter(Boolean).join(' ');
    if (!text) return;
    state.progress.words.push(...words);
    box.append((box.childNodes.length ? ' ' : '') + text);
    $('partial-box').hidden = false;
    box.scrollTop = box.scrollHeight;
  }

  function renderProgress(started) {
    const pr = state.progress;
    if (!pr || !state.job) return;
    const s = t();
    const bar = $('progress-bar');
    const pct = Math.round(pr.fraction * 100);
    const parts = [s.stages[pr.stage] || pr.stage];
    if (pr.stage === 'queued' && pr.queue) parts.push(s.queuePosition(pr.queue));
    if (pr.total != null && pr.fraction > 0) parts.push(s.transcribed(pct, clock(pr.done), clock(pr.total)));
    if (pr.eta != null && pr.fraction > 0 && pr.fraction < 1) {
      const left = Math.max(0, pr.eta - (Date.now() - pr.etaAt) / 1000);
      parts.push(s.eta(clock(left)));
    }
    parts.push(clock((performance.now() - started) / 1000));
    $('progress-text').textContent = parts.join(' · ');
    if (pr.fraction > 0 || pr.stage !== 'queued') bar.value = pct;
    else bar.removeAttribute('value');
    $('progress').dataset.stage = pr.stage;
    $('progress').dataset.fraction = String(pr.fraction);
  }

  /// `xCache`: how the server got the report (`miss`, `coalesced`, `hit-…`), when known.
  function showJobReport(report, xCache) {
    detachJob();
    finish(() => {
      state.report = report;
      state.raw = JSON.stringify(report);
      state.pxPerSec = null;
      state.xCache = xCache || null;
      if (state.file) setMedia(state.file);
      // Visible first: the timeline is drawn at the width it gets on screen.
      $('report').hidden = false;
      renderReport();
      $('report-h').focus();
      // A tracked job is recorded as a rehearsal by the server as it finishes: show it.
      if (state.tracked && window.SpeechCoachProgress) {
        setTimeout(() => window.SpeechCoachProgress.onReport({ rehearsal: true }), 1000);
      }
    });
  }

  function jobFailed(err) {
    detachJob();
    setJobInUrl(null);
    finish(() => showError({
      kind: 'http',
      status: err.status || 500,
      code: err.error,
      serverMessage: err.message,
      requestId: err.request_id,
    }));
  }

  function jobCancelled() {
    detachJob();
    setJobInUrl(null);
    finish(() => showError({ kind: 'jobCancelled' }));
  }

  /// Cancel: abort the upload, or cancel the job on the server.
  async function cancel() {
    if (state.xhr) { state.xhr.abort(); return; }
    const id = state.job;
    if (!id) return;
    $('cancel').disabled = true;
    try {
      const resp = await fetch(`/jobs/${id}`, { method: 'DELETE', headers: { Accept: 'application/json' } });
      const j = resp.ok ? await resp.json() : null;
      if (state.job !== id) return;
      if (j && j.state === 'done' && j.report) showJobReport(j.report);
      else jobCancelled();
    } catch (_) {
      /* the job goes on; the events keep showing it */
    } finally {
      $('cancel').disabled = false;
    }
  }

  function setMedia(file) {
    if (state.mediaUrl) URL.revokeObjectURL(state.mediaUrl);
    state.mediaUrl = URL.createObjectURL(file);
    const player = $('player');
    player.src = state.mediaUrl;
  }

  // ---------- errors ----------

  function hideError() {
    state.lastError = null;
    $('error').hidden = true;
    clearInterval(state.retryTimer);
  }

  /// Shows an error; `err` is kept (not its text) so a language switch can re-render it.
  function showError(err) {
    state.lastError = err;
    const e = t().errors;
    let title = '';
    let message = '';
    let hint = '';
    let retry = false;
    if (err.kind === 'local') {
      title = e[err.title];
      message = err.message();
    } else if (err.kind === 'network') {
      title = e.network;
      message = e.networkMsg;
      retry = true;
    } else if (err.kind === 'cancelled') {
      title = e.cancelled;
      message = e.cancelledMsg;
      retry = true;
    } else if (err.kind === 'jobGone') {
      title = t().jobGone;
      message = t().jobGoneMsg;
    } else if (err.kind === 'jobCancelled') {
      title = t().jobCancelled;
      message = t().jobCancelledMsg;
      retry = true;
    } else if (err.kind === 'badReply') {
      title = e.badReply;
      message = e.badReplyMsg;
      retry = true;
    } else {
      const st = err.status;
      title = e[err.code] || e[st] || e.other(st);
      message = err.serverMessage || '';
      if (st === 415 || (st === 422 && err.code !== 'no_audio')) hint = e.formatHint;
      if (err.code === 'audio_too_long' && state.config) hint = e.audioTooLongHint(span(state.config.max_audio_duration_sec));
      if (st === 504) hint = e.timeoutHint;
      retry = st === 503 || st === 504 || st === 502 || st >= 500 || st === 0;
    }
    $('error-title').textContent = title;
    $('error-message').textContent = message;
    $('error-message').hidden = !message;
    $('error-request').textContent = err.requestId ? t().requestId(err.requestId) : '';
    $('error-request').hidden = !err.requestId;
    const retryBtn = $('retry');
    retryBtn.hidden = !(retry && state.file);
    clearInterval(state.retryTimer);
    if (err.retryAt) {
      const tick = () => {
        const left = Math.ceil((err.retryAt - Date.now()) / 1000);
        if (left > 0) {
          $('error-hint').textContent = t().errors.retryIn(left);
          retryBtn.disabled = true;
        } else {
          $('error-hint').textContent = t().errors.retryNow;
          retryBtn.disabled = false;
          clearInterval(state.retryTimer);
        }
      };
      tick();
      state.retryTimer = setInterval(tick, 1000);
    } else {
      $('error-hint').textContent = hint;
      retryBtn.disabled = false;
    }
    $('error-hint').hidden = !$('error-hint').textContent;
    $('error').hidden = false;
  }

  // ---------- report ----------

  function renderReport() {
    // Measured for docs/bench/web.md (see the browser test); costs nothing when unobserved.
    performance.mark('render-start');
    const r = state.report;
    const s = t();
    // Read the width before changing anything: reading it later would force a layout of
    // the half-updated page.
    const width = $('timeline').clientWidth;
    $('report-sub').textContent = s.reportSub(state.file ? state.file.name : r.id, (r.language || '?').toUpperCase());
    renderCacheNote(r);
    const warn = $('warnings');
    warn.replaceChildren(...(r.warnings || []).map((w) => el('li', {}, w)));
    warn.hidden = !(r.warnings && r.warnings.length);
    renderStats(r);
    renderLegend();
    renderTimeline(r, width);
    renderAdvice(r);
    renderFeedback(r);
    renderTranscript(r);
    performance.measure('render-report', 'render-start');
  }

  function renderCacheNote(r) {
    const s = t();
    const note = $('cache-note');
    const header = state.xCache || '';
    let tier = r.cache && r.cache.hit ? r.cache.tier : null;
    if (!tier && header.startsWith('hit-')) tier = header.slice(4);
    if (tier) note.textContent = s.cacheHit(s.tiers[tier] || tier);
    else if (header === 'coalesced') note.textContent = s.cacheCoalesced;
    note.hidden = !(tier || header === 'coalesced');
  }

  function stat(label, value, unit, ...detail) {
    return el('div', { class: 'stat' },
      el('dl', {},
        el('dt', {}, label),
        el('dd', { class: 'main' }, el('span', { class: 'value' }, value), unit ? el('span', { class: 'unit' }, unit) : null),
        el('dd', {}, ...detail)));
  }

  function renderStats(r) {
    const s = t();
    const m = r.metrics;
    const band = m.pace_band_wpm || {};
    const wpm = m.words_per_minute;
    let paceChip = null;
    if (band.max_wpm > 0 && m.words_total > 0) {
      const cls = wpm > band.max_wpm ? 'fast' : wpm < band.min_wpm ? 'slow' : 'ok';
      paceChip = el('span', { class: `chip ${cls === 'ok' ? 'ok' : 'warn'}`, 'data-pace': cls },
        cls === 'ok' ? s.paceOk : cls === 'fast' ? s.paceFast : s.paceSlow);
    }
    const pauses = m.pauses || {};
    const classes = pauses.classes || {};
    const longCount = (classes.long || 0) + (classes.awkward || 0);
    const f = m.fillers || {};
    $('stats').replaceChildren(
      stat(s.statDuration, clock(r.audio.duration_sec), null,
        el('span', { class: 'detail' }, span(r.audio.duration_sec))),
      stat(s.statSpeaking, clock(m.speaking_time_sec), null,
        el('span', { class: 'detail' }, s.statSpeakingDetail(clock(m.voiced_time_sec)))),
      stat(s.statPace, num(wpm, 0), s.wpm,
        band.max_wpm > 0 ? el('span', { class: 'detail' }, s.band(num(band.min_wpm, 0), num(band.max_wpm, 0))) : null,
        paceChip),
      stat(s.statFillers, num(f.per_minute, 1), s.perMin,
        el('span', { class: 'detail' }, s.fillersDetail(num(f.total, 0), num(f.per_100_words, 1)))),
      stat(s.statPauses, num(pauses.count, 0), null,
        el('span', { class: 'detail' }, s.pausesDetail(num(longCount, 0), span(pauses.max_sec || 0)))),
      stat(s.statRatio, num((m.speaking_ratio || 0) * 100, 0), '%',
        el('span', { class: 'detail' }, s.ratioDetail)),
      stat(s.statWords, num(m.words_total, 0), null,
        el('span', { class: 'detail' }, s.wordsDetail(num(m.unique_words, 0)))),
    );
  }

  function renderLegend() {
    const s = t();
    const item = (cls, text) => el('li', {}, el('span', { class: `swatch ${cls}`, 'aria-hidden': 'true' }), text);
    $('legend').replaceChildren(
      item('speech', s.legendSpeech), item('silence', s.legendSilence), item('filler', s.legendFiller),
      item('pause-long', s.legendLong), item('pause-awkward', s.legendAwkward),
      item('pace', s.legendPace), item('band', s.legendBand));
  }

  /// Speech spans: the report's `speech` timeline events, or (if absent) the gaps between pauses.
  function speechSpans(r, duration) {
    const speech = (r.timeline || []).filter((e) => e.type === 'speech');
    if (speech.length) return speech.map((e) => [e.start_sec, e.end_sec]);
    const pauses = ((r.metrics.pauses || {}).events || []).slice().sort((a, b) => a.start_sec - b.start_sec);
    const out = [];
    let from = 0;
    for (const p of pauses) {
      if (p.start_sec > from) out.push([from, p.start_sec]);
      from = Math.max(from, p.end_sec);
    }
    if (from < duration) out.push([from, duration]);
    return out;
  }

  function niceStep(duration, width) {
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
    const want = duration / Math.max(2, Math.floor(width / 70));
    return steps.find((v) => v >= want) || 3600;
  }

  function renderTimeline(r, width) {
    const s = t();
    const host = $('timeline');
    const duration = Math.max(r.audio.duration_sec || 0, 0.001);
    const m = r.metrics;
    const avail = Math.max(300, Math.floor(width || host.clientWidth || 600));
    const padL = 54; // room for the row names and the pace axis labels
    const padR = 12;
    const fit = (avail - padL - padR) / duration;
    const pps = Math.min(MAX_PX_PER_SEC, Math.max(fit, state.pxPerSec || Math.max(fit, MIN_PX_PER_SEC)));
    state.timelineFit = fit;
    state.timelinePps = pps;
    $('zoom-out').disabled = pps <= fit + 1e-9;
    $('zoom-fit').disabled = pps <= fit + 1e-9;
    $('zoom-in').disabled = pps >= MAX_PX_PER_SEC;
    const W = Math.ceil(padL + padR + pps * duration);
    const x = (sec) => padL + Math.min(Math.max(sec, 0), duration) * pps;

    // Rows, top to bottom.
    const labelY = [14, 30];
    const markY = 44;
    const barTop = 52;
    const barH = 26;
    const pauseLabelY = barTop + barH + 16;
    const monoY = barTop + barH + 26;
    const paceTop = monoY + 14;
    const paceH = 84;
    const axisY = paceTop + paceH + 16;
    const H = axisY + 6;

    const svg = sv('svg', {
      width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'group', 'aria-label': s.timelineLabel,
      id: 'timeline-svg',
    });
    svg.append(sv('title', {}, s.timelineLabel));

    // Row labels (decorative; the figure has a text alternative).
    const rowLabels = sv('g', { 'aria-hidden': 'true' },
      sv('text', { class: 'tl-row-label', x: 2, y: markY - 2 }, s.rowFillers),
      sv('text', { class: 'tl-row-label', x: 2, y: barTop + barH / 2 + 4 }, s.rowSpeech),
      sv('text', { class: 'tl-row-label', x: 2, y: paceTop + 10 }, s.rowPace));
    svg.append(rowLabels);

    // Filler bursts behind the marker row.
    for (const b of (m.fillers && m.fillers.bursts) || []) {
      svg.append(sv('rect', {
        class: 'tl-burst', x: x(b.start_sec) - 4, y: 4, width: Math.max(8, x(b.end_sec) - x(b.start_sec) + 8),
        height: barTop + barH - 4, rx: 4,
      }, sv('title', {}, s.burst(b.count))));
    }

    // Speech vs silence.
    svg.append(sv('rect', { class: 'tl-silence', x: x(0), y: barTop, width: x(duration) - x(0), height: barH, rx: 3 }));
    const speechG = sv('g', { 'aria-hidden': 'true' });
    for (const [a, b] of speechSpans(r, duration)) {
      speechG.append(sv('rect', {
        class: 'tl-speech', 'data-kind': 'speech', x: x(a), y: barTop, width: Math.max(1, x(b) - x(a)), height: barH,
      }));
    }
    svg.append(speechG);

    // Long and awkward pauses: overlaid on the bar, labelled with their length below it.
    const pauses = ((m.pauses && m.pauses.events) || []).filter((p) => MARKED_PAUSES.includes(p.class));
    for (const p of pauses) {
      const cls = p.class;
      const label = s.pauseAt(span(p.duration_sec), clock(p.start_sec, true), s.pauseClass[cls] || cls);
      const g = sv('g', {
        class: `tl-pause ${cls}`, 'data-kind': 'pause-long', 'data-class': cls,
        'data-start': p.start_sec.toFixed(2), 'data-duration': p.duration_sec.toFixed(2),
        'data-seek': Math.max(0, p.start_sec - 1).toFixed(2),
        tabindex: 0, role: 'button', 'aria-label': label,
      },
      sv('title', {}, label),
      sv('rect', { x: x(p.start_sec), y: barTop, width: Math.max(3, x(p.end_sec) - x(p.start_sec)), height: barH }),
      sv('text', { x: (x(p.start_sec) + x(p.end_sec)) / 2, y: pauseLabelY, 'text-anchor': 'middle' }, span(p.duration_sec)));
      svg.append(g);
    }

    // Monotone stretches: a line under the bar.
    for (const st of (m.voice && m.voice.monotone_stretches) || []) {
      svg.append(sv('line', { class: 'tl-monotone', x1: x(st.start_sec), x2: x(st.end_sec), y1: monoY, y2: monoY },
        sv('title', {}, `${s.monotone} ${clock(st.start_sec)}–${clock(st.end_sec)}`)));
    }

    // Fillers: one marker each, labels staggered over two lines; a label that fits nowhere is
    // left out (the marker keeps its tooltip and accessible name).
    const fillers = ((m.fillers && m.fillers.events) || []).slice().sort((a, b) => a.start_sec - b.start_sec);
    const lastEnd = [-Infinity, -Infinity];
    for (const f of fillers) {
      const word = f.text || s.acousticFiller;
      const shown = f.text || '…';
      const cx = x((f.start_sec + f.end_sec) / 2);
      const halfW = (shown.length * 7 + 6) / 2;
      const lx = Math.min(Math.max(cx, padL + halfW), W - padR - halfW);
      let row = lastEnd.findIndex((end) => lx - halfW > end + 4);
      const label = s.fillerAt(word, clock(f.start_sec, true));
      const g = sv('g', {
        class: `tl-filler ${f.source === 'acoustic' ? 'acoustic' : ''}`, 'data-kind': 'filler', 'data-word': f.text || '',
        'data-source': f.source, 'data-start': f.start_sec.toFixed(2),
        'data-seek': Math.max(0, f.start_sec - 1).toFixed(2),
        tabindex: 0, role: 'button', 'aria-label': label,
      }, sv('title', {}, label));
      const stemTop = row >= 0 ? labelY[row] + 3 : markY - 4;
      g.append(sv('line', { class: 'stem', x1: cx, x2: cx, y1: stemTop, y2: barTop + barH }));
      g.append(sv('circle', { class: 'dot', cx, cy: markY, r: 5 }));
      if (row >= 0) {
        lastEnd[row] = lx + halfW;
        g.append(sv('text', { x: lx, y: labelY[row], 'text-anchor': 'middle' }, shown));
      }
      svg.append(g);
    }

    // Pace over time, with the comfortable band shaded.
    const windows = m.pace_windows || [];
    const band = m.pace_band_wpm || { min_wpm: 0, max_wpm: 0 };
    const maxWpm = Math.max(band.max_wpm * 1.3, ...windows.map((w) => w.wpm), 60);
    const y = (wpm) => paceTop + paceH - (Math.max(0, wpm) / maxWpm) * paceH;
    const paceG = sv('g', { class: 'tl-pace-axis', 'aria-hidden': 'true' });
    if (band.max_wpm > 0) {
      paceG.append(sv('rect', {
        class: 'tl-band', x: x(0), y: y(band.max_wpm), width: x(duration) - x(0), height: y(band.min_wpm) - y(band.max_wpm),
      }));
      for (const v of [band.min_wpm, band.max_wpm]) {
        paceG.append(sv('text', { x: padL - 4, y: y(v) + 4, 'text-anchor': 'end' }, num(v, 0)));
      }
    }
    paceG.append(sv('line', { class: 'tl-grid', x1: x(0), x2: x(duration), y1: y(0), y2: y(0) }));
    paceG.append(sv('text', { x: padL - 4, y: y(0) + 4, 'text-anchor': 'end' }, '0'));
    svg.append(paceG);
    if (windows.length) {
      const pts = windows.map((w) => [x((w.start_sec + w.end_sec) / 2), y(w.wpm), w]);
      svg.append(sv('polyline', {
        class: 'tl-pace', 'data-kind': 'pace', points: pts.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' '),
      }));
      for (const [px, py, w] of pts) {
        svg.append(sv('circle', { class: `tl-pace-dot ${w.flag}`, cx: px, cy: py, r: 3 },
          sv('title', {}, `${clock(w.start_sec)}–${clock(w.end_sec)}: ${num(w.wpm, 0)} ${s.wpm}`)));
      }
    }

    // Time axis.
    const axis = sv('g', { class: 'tl-axis', 'aria-hidden': 'true' });
    const step = niceStep(duration, W - padL - padR);
    for (let v = 0; v <= duration + 1e-6; v += step) {
      const px = x(v);
      axis.append(sv('line', { x1: px, x2: px, y1: axisY - 12, y2: axisY - 8 }));
      axis.append(sv('text', { x: px, y: axisY + 2, 'text-anchor': v === 0 ? 'start' : 'middle' }, clock(v)));
    }
    svg.append(axis);

    // Where the player is.
    svg.append(sv('line', {
      class: 'tl-playhead', id: 'playhead', x1: x(0), x2: x(0), y1: 2, y2: axisY - 8, visibility: 'hidden',
    }));
    state.timelineX = x;
    host.replaceChildren(svg);
  }

  function renderAdvice(r) {
    const s = t();
    const list = $('advice');
    const items = r.advice || [];
    if (!items.length) {
      list.replaceChildren(el('li', { class: 'info' }, s.noAdvice));
      return;
    }
    list.replaceChildren(...items.map((a) => el('li', { class: a.severity, 'data-category': a.category },
      el('span', { class: 'severity' }, s.severity[a.severity] || a.severity),
      el('h4', {}, a.title),
      a.observation ? el('p', {}, a.observation) : null,
      a.recommendation ? el('p', {}, el('strong', {}, '→ '), a.recommendation) : null,
      a.evidence && a.evidence.length
        ? el('div', { class: 'evidence' }, a.evidence.map((ev) => timeButton(ev.start_sec,
          ev.label ? `${clock(ev.start_sec)} · ${ev.label}` : clock(ev.start_sec))))
        : null)));
  }

  function renderFeedback(r) {
    const s = t();
    const fb = r.feedback;
    const src = $('feedback-source');
    const box = $('feedback');
    if (!fb) {
      src.replaceChildren();
      box.replaceChildren();
      return;
    }
    const parts = [];
    if (fb.source === 'gigachat') {
      parts.push(el('span', { class: 'badge gigachat', 'data-source': 'gigachat' }, s.sourceGigachat));
      if (fb.model) parts.push(el('span', {}, s.sourceModel(fb.model)));
    } else {
      parts.push(el('span', { class: 'badge rules', 'data-source': fb.source }, s.sourceRules));
      if (fb.reason) parts.push(el('span', { 'data-reason': fb.reason }, `${s.reason[fb.reason] || fb.reason}.`));
    }
    if (typeof fb.confidence === 'number') parts.push(el('span', {}, s.confidence(`${num(fb.confidence * 100, 0)}\u00a0%`)));
    src.replaceChildren(...parts);
    const list = (title, items) => items && items.length
      ? [el('h4', {}, title), el('ul', {}, items.map((i) => el('li', {}, i)))]
      : [];
    box.replaceChildren(
      fb.overall_assessment ? el('p', {}, fb.overall_assessment) : '',
      ...list(s.strengths, fb.strengths),
      ...list(s.areas, fb.areas_for_improvement),
      ...list(s.recommendations, fb.recommendations),
      ...list(s.insights, fb.key_insights));
  }

  function renderTranscript(r) {
    const s = t();
    const box = $('transcript');
    const tr = r.transcript || {};
    const fillers = ((r.metrics.fillers || {}).events || []);
    const spoken = fillers.filter((f) => f.source !== 'acoustic');
    const acoustic = fillers.filter((f) => f.source === 'acoustic').sort((a, b) => a.start_sec - b.start_sec);
    const segments = tr.segments || [];
    const words = tr.words || [];
    if (!segments.length && !tr.text) {
      box.replaceChildren(el('p', { class: 'hint' }, s.noTranscript));
      return;
    }
    if (!words.length) {
      // detail=summary: no word times, so segments only.
      box.replaceChildren(...(segments.length
        ? segments.map((seg) => el('p', {}, timeButton(seg.start_sec), seg.text))
        : [el('p', {}, tr.text)]));
      return;
    }
    // Words grouped by segment time; acoustic fillers inserted where they happened.
    const groups = segments.length
      ? segments.map((seg) => ({ start: seg.start_sec, end: seg.end_sec, items: [] }))
      : [{ start: words[0].start_sec, end: Infinity, items: [] }];
    // The last group starting at or before `sec` (binary search: a long talk has ~1000).
    const groupOf = (sec) => {
      let lo = 0;
      let hi = groups.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (groups[mid].start <= sec + 0.05) lo = mid;
        else hi = mid - 1;
      }
      return groups[lo];
    };
    // Words are visited in time order, so one forward sweep over the sorted fillers suffices.
    const spans = spoken.map((f) => [f.start_sec + 0.01, f.end_sec - 0.01]).sort((a, b) => a[0] - b[0]);
    let next = 0;
    const isFiller = (w) => {
      while (next < spans.length && spans[next][1] <= w.start_sec) next++;
      for (let j = next; j < spans.length && spans[j][0] < w.end_sec; j++) {
        if (w.start_sec < spans[j][1] && w.end_sec > spans[j][0]) return true;
      }
      return false;
    };
    for (const w of words) groupOf(w.start_sec).items.push({ t: w.start_sec, word: w });
    for (const a of acoustic) groupOf(a.start_sec).items.push({ t: a.start_sec, acoustic: a });
    const paragraphs = [];
    for (const g of groups) {
      if (!g.items.length) continue;
      g.items.sort((a, b) => a.t - b.t);
      const p = el('p', {}, timeButton(g.items[0].t));
      for (const it of g.items) {
        if (it.acoustic) {
          p.append(el('mark', { class: 'acoustic', title: s.acousticFiller, 'data-t': it.t.toFixed(2) }, `(${s.acousticFiller})`), ' ');
          continue;
        }
        const w = it.word;
        const attrs = { class: 'w', 'data-t': w.start_sec.toFixed(2) };
        p.append(isFiller(w) ? el('mark', { ...attrs, class: 'w filler', title: s.legendFiller }, w.word) : el('span', attrs, w.word), ' ');
      }
      paragraphs.push(p);
    }
    box.replaceChildren(...paragraphs);
  }

  // ---------- playing ----------

  function seek(sec) {
    const player = $('player');
    if (!player.src) return;
    const go = () => {
      player.currentTime = Math.max(0, sec);
      player.play().catch(() => { /* autoplay refused: the position is still set */ });
    };
    if (player.readyState >= 1) go();
    else player.addEventListener('loadedmetadata', go, { once: true });
  }

  function onPlayerTime() {
    const ph = document.getElementById('playhead');
    if (!ph || !state.timelineX) return;
    const px = state.timelineX($('player').currentTime);
    ph.setAttribute('x1', px);
    ph.setAttribute('x2', px);
    ph.setAttribute('visibility', 'visible');
    // While playing, keep the playhead in view when the timeline is wider than its box.
    const host = $('timeline');
    if ($('player').paused) return;
    if (px < host.scrollLeft || px > host.scrollLeft + host.clientWidth - 20) {
      host.scrollLeft = Math.max(0, px - host.clientWidth / 3);
    }
  }

  /// Redraws the timeline at `pps` pixels per second, keeping the same moment at the centre.
  function zoomTo(pps) {
    if (!state.report) return;
    const host = $('timeline');
    const centre = (host.scrollLeft + host.clientWidth / 2 - 54) / (state.timelinePps || 1);
    state.pxPerSec = pps;
    renderTimeline(state.report, host.clientWidth);
    host.scrollLeft = Math.max(0, 54 + centre * state.timelinePps - host.clientWidth / 2);
    onPlayerTime();
  }

  function download() {
    if (!state.raw) return;
    const url = URL.createObjectURL(new Blob([state.raw], { type: 'application/json' }));
    const a = el('a', { href: url, download: `speech-report-${String(state.report.id || 'report').slice(0, 12)}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  /// Hides the report and drops its nodes now (a long talk has thousands), not on the next render.
  function clearReport() {
    $('report').hidden = true;
    for (const id of ['stats', 'timeline', 'advice', 'feedback', 'transcript']) $(id).replaceChildren();
  }

  function reset() {
    detachJob();
    setJobInUrl(null);
    state.report = null;
    state.raw = null;
    clearReport();
    $('player').pause();
    $('file').value = '';
    chooseFile(null);
    $('file').focus();
  }

  // ---------- wiring ----------

  async function loadConfig() {
    try {
      const resp = await fetch('/api/config', { headers: { Accept: 'application/json' } });
      if (resp.ok) state.config = await resp.json();
    } catch (_) { /* the server still enforces its limits; the page just cannot say them */ }
    renderLimit();
    if (state.file) checkLocally(state.file);
  }

  function init() {
    applyTexts();
    loadConfig();
    for (const b of document.querySelectorAll('[data-ui-lang]')) {
      b.addEventListener('click', () => setUiLanguage(b.dataset.uiLang));
    }
    const input = $('file');
    input.addEventListener('change', () => chooseFile(input.files && input.files[0]));
    $('upload-form').addEventListener('submit', (ev) => { ev.preventDefault(); startUpload(); });
    $('cancel').addEventListener('click', cancel);
    $('retry').addEventListener('click', () => startUpload());
    $('download').addEventListener('click', download);
    $('again').addEventListener('click', reset);

    // Drag and drop onto the drop zone; a file dropped elsewhere must not navigate away.
    const drop = $('drop');
    window.addEventListener('dragover', (ev) => ev.preventDefault());
    window.addEventListener('drop', (ev) => ev.preventDefault());
    drop.addEventListener('dragenter', (ev) => { ev.preventDefault(); drop.classList.add('dragover'); });
    drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('dragover'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('dragover'));
    drop.addEventListener('drop', (ev) => {
      ev.preventDefault();
      drop.classList.remove('dragover');
      if (state.xhr || state.job) return;
      const f = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
      if (f) chooseFile(f);
    });

    // Anything with data-seek (time buttons, timeline markers) or data-t (transcript words) plays.
    document.addEventListener('click', (ev) => {
      const target = ev.target instanceof Element ? ev.target.closest('[data-seek], .transcript [data-t]') : null;
      if (!target) return;
      seek(parseFloat(target.dataset.seek ?? target.dataset.t));
    });
    $('timeline').addEventListener('keydown', (ev) => {
      if (ev.key !== 'Enter' && ev.key !== ' ') return;
      const target = ev.target instanceof Element ? ev.target.closest('[data-seek]') : null;
      if (!target) return;
      ev.preventDefault();
      seek(parseFloat(target.dataset.seek));
    });
    $('player').addEventListener('timeupdate', onPlayerTime);
    $('zoom-in').addEventListener('click', () => zoomTo(state.timelinePps * 2));
    $('zoom-out').addEventListener('click', () => zoomTo(Math.max(state.timelineFit, state.timelinePps / 2)));
    $('zoom-fit').addEventListener('click', () => zoomTo(state.timelineFit));

    // A reload (or a second tab with the same URL) follows the same job.
    const jobId = jobFromUrl();
    if (jobId) fetchJob(jobId).then((j) => { if (j) attachJob(jobId, j); });

    // Redraw the timeline at the new width (it is drawn in pixels so text stays readable).
    let resizeTimer = null;
    let lastWidth = $('timeline').clientWidth;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        const w = $('timeline').clientWidth;
        if (state.report && w !== lastWidth) {
          lastWidth = w;
          renderTimeline(state.report, w);
          onPlayerTime();
        }
      }, 150);
    });
  }

  // progress.js opens a stored rehearsal's report through this (no media: the file is not here).
  window.SpeechCoach = {
    showReport(report) {
      state.report = report;
      state.file = null; // the subtitle then names the stored report
      $('analyze').disabled = true;
      state.raw = JSON.stringify(report);
      state.pxPerSec = null;
      state.xCache = null;
      $('report').hidden = false;
      renderReport();
      $('report-h').focus();
    },
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
