/*
 * The owner's page of a UK smart charge point.
 *
 * Every page is rendered by the charger; this script reads data and acts
 * through the JSON API under /api/v1 (same origin, the session cookie goes
 * along by itself). Changes carry the session's CSRF token, which the page
 * has in <meta name="csrf-token">. No data is ever put into the page as
 * HTML: text goes in with textContent, so nothing the charger stores can run.
 */
(function () {
  'use strict';

  var LONDON = 'Europe/London';
  var POLL_MS = 2000;
  var FAILED = {};  // what act() returns when the action failed (its message is shown)

  // ------------------------------------------------------------------ words

  var STATE_WORDS = {
    A: ['No vehicle', 'idle'],
    B: ['Connected, not charging', 'connected'],
    C: ['Charging', 'charging'],
    D: ['Charging (ventilation required)', 'charging'],
    E: ['Error on the control pilot', 'error'],
    F: ['Charger unavailable', 'error']
  };

  // Who set the limit that binds now.
  var SOURCE_WORDS = {
    hardware: 'the charger’s own rating',
    supply: 'your home’s supply limit (main fuse)',
    ocpp: 'your energy supplier or operator (back end)',
    default_mode: 'your charging hours',
    owner: 'you (boost or charging hours)',
    ems: 'your home energy manager (a price or tariff change, or it did not say why)',
    dsr: 'a demand side response event',
    safety: 'a safety stop'
  };

  // What made the charger wait a random time.
  var CAUSE_WORDS = {
    restoration: 'power came back after a power cut',
    plug_in: 'the vehicle was plugged in',
    ev_pause: 'the vehicle paused or resumed',
    ocpp: 'your energy supplier or charging operator (a schedule, or a start from their app)',
    default_mode: 'your charging hours started or ended',
    owner: 'a change you made',
    ems: 'your home energy manager (a price or tariff change, or it did not say why)',
    supply: 'a change of the supply limit',
    hardware: 'a change of the charger’s rating',
    dsr: 'a demand side response event',
    safety: 'a safety event',
    randomised: 'a change already randomised by its source'
  };

  var DSR_CHANNEL_WORDS = {
    ocpp: 'Your energy supplier or charging operator',
    openadr: 'A grid demand response programme (OpenADR)',
    ems: 'Your home energy manager, for a demand response event'
  };

  var MODE_WORDS = {
    default: 'Default off-peak hours',
    custom: 'Your own hours',
    removed: 'No charging hours: charges at any time'
  };

  var END_WORDS = {
    unplugged: 'Unplugged',
    interrupted: 'Charger stopped (power cut or restart)'
  };

  var KIND_WORDS = {
    initial: 'At the start',
    limit: 'Limit changed',
    offered: 'Offer to the vehicle changed'
  };

  // What the charger sent the back end about firmware it was asked to install (OCPP status words).
  var FIRMWARE_WORDS = {
    Idle: 'nothing to do',
    DownloadScheduled: 'waiting to download',
    Downloading: 'downloading',
    Downloaded: 'downloaded, checking its signature',
    DownloadFailed: 'the download failed',
    SignatureVerified: 'signed by the manufacturer, waiting to install',
    InvalidSignature: 'refused: it is not signed by the manufacturer',
    InstallScheduled: 'waiting to install',
    Installing: 'installing',
    InstallRebooting: 'restarting into the new firmware',
    Installed: 'installed',
    InstallationFailed: 'the installation failed',
    InstallVerificationFailed: 'refused: its files failed their check'
  };
  var FIRMWARE_FAILED = ['DownloadFailed', 'InvalidSignature', 'InstallationFailed', 'InstallVerificationFailed'];

  var DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
  var DAY_NAMES = { mon: 'Mon', tue: 'Tue', wed: 'Wed', thu: 'Thu', fri: 'Fri', sat: 'Sat', sun: 'Sun' };

  // ------------------------------------------------------------------ formatting

  var timeFmt = new Intl.DateTimeFormat('en-GB', {
    timeZone: LONDON, hour: '2-digit', minute: '2-digit', second: '2-digit'
  });
  var shortTimeFmt = new Intl.DateTimeFormat('en-GB', {
    timeZone: LONDON, hour: '2-digit', minute: '2-digit'
  });
  var dateTimeFmt = new Intl.DateTimeFormat('en-GB', {
    timeZone: LONDON, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric',
    hour: '2-digit', minute: '2-digit'
  });
  var secondsFmt = new Intl.DateTimeFormat('en-GB', {
    timeZone: LONDON, day: 'numeric', month: 'short', year: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit'
  });
  var dayMonthFmt = new Intl.DateTimeFormat('en-GB', { timeZone: LONDON, day: 'numeric', month: 'short' });
  var monthFmt = new Intl.DateTimeFormat('en-GB', { timeZone: LONDON, month: 'short' });
  var monthYearFmt = new Intl.DateTimeFormat('en-GB', { timeZone: LONDON, month: 'short', year: 'numeric' });
  var dayKeyLong = new Intl.DateTimeFormat('en-GB', {
    timeZone: LONDON, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric'
  });
  var dayKeyFmt = new Intl.DateTimeFormat('en-CA', {
    timeZone: LONDON, year: 'numeric', month: '2-digit', day: '2-digit'
  });

  function fmtDateTime(iso) {
    return iso ? dateTimeFmt.format(new Date(iso)) : '–';
  }

  function fmtWhen(iso) {
    // "today at 22:00", "tomorrow at 08:00", or the date in full.
    if (!iso) return '';
    var when = new Date(iso);
    var key = dayKeyFmt.format(when);
    var today = dayKeyFmt.format(new Date());
    var tomorrow = dayKeyFmt.format(new Date(Date.now() + 86400000));
    if (key === today) return 'today at ' + shortTimeFmt.format(when);
    if (key === tomorrow) return 'tomorrow at ' + shortTimeFmt.format(when);
    return dateTimeFmt.format(when);
  }

  function fmtAmps(amps) {
    return amps === null || amps === undefined ? '–' : Number(amps).toFixed(1) + ' A';
  }

  function fmtKw(watts) {
    return watts === null || watts === undefined ? '–' : (watts / 1000).toFixed(2) + ' kW';
  }

  function fmtKwh(wh) {
    if (wh === null || wh === undefined) return '–';
    // Small amounts (the first minutes of a session) would all read 0.00 kWh.
    return Math.abs(wh) < 100 ? Math.round(wh) + ' Wh' : (wh / 1000).toFixed(2) + ' kWh';
  }

  function fmtCountdown(seconds) {
    var s = Math.max(0, Math.round(seconds));
    var m = Math.floor(s / 60);
    return m ? m + ' min ' + String(s % 60).padStart(2, '0') + ' s' : s + ' s';
  }

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined) return '–';
    var s = Math.round(seconds);
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    if (h) return h + ' h ' + m + ' min';
    if (m) return m + ' min ' + (s % 60) + ' s';
    return s + ' s';
  }

  function fmtSeconds(seconds) {
    if (seconds >= 60 && seconds % 60 === 0) return seconds + ' s (' + seconds / 60 + ' min)';
    return seconds + ' s';
  }

  function sentence(text) {
    var t = String(text).trim();
    if (!t) return t;
    t = t.charAt(0).toUpperCase() + t.slice(1);
    return /[.!?]$/.test(t) ? t : t + '.';
  }

  function humanEvent(type) {
    // "StartupOfTheDevice" -> "Startup of the device"
    var words = String(type).replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function daysWords(days) {
    var set = DAYS.filter(function (d) { return days.indexOf(d) >= 0; });
    var joined = set.join(',');
    if (joined === DAYS.join(',')) return 'Every day';
    if (joined === 'mon,tue,wed,thu,fri') return 'Mon–Fri';
    if (joined === 'sat,sun') return 'Sat–Sun';
    // Runs of three or more consecutive days read as a range.
    var parts = [];
    var i = 0;
    while (i < set.length) {
      var j = i;
      while (j + 1 < set.length && DAYS.indexOf(set[j + 1]) === DAYS.indexOf(set[j]) + 1) j++;
      if (j - i >= 2) parts.push(DAY_NAMES[set[i]] + '–' + DAY_NAMES[set[j]]);
      else for (var k = i; k <= j; k++) parts.push(DAY_NAMES[set[k]]);
      i = j + 1;
    }
    return parts.join(', ');
  }

  function endWords(window) {
    if (window.end === '24:00' || window.end === '00:00') return 'midnight';
    return window.end < window.start ? window.end + ' next day' : window.end;
  }

  function windowWords(window) {
    var allDay = window.start === '00:00' && (window.end === '24:00' || window.end === '00:00');
    if (allDay) return daysWords(window.days) + ', all day';
    return daysWords(window.days) + ', ' + window.start + ' to ' + endWords(window);
  }

  // ------------------------------------------------------------------ DOM helpers

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $$(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }
  function bound(name, root) { return $('[data-bind="' + name + '"]', root); }
  function action(name, root) { return $('[data-action="' + name + '"]', root); }

  function setText(name, text, root) {
    var node = bound(name, root);
    // Only a change is written: a live region (role="alert") is not announced again each poll.
    if (node && node.textContent !== text) node.textContent = text;
    return node;
  }

  function setList(name, items) {
    var list = bound(name);
    if (!list) return list;
    var same = list.children.length === items.length && items.every(function (item, i) {
      return list.children[i].textContent === item;
    });
    if (!same) list.replaceChildren(...items.map(function (item) { return el('li', { text: item }); }));
    list.hidden = !items.length;
    return list;
  }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === 'text') node.textContent = value;
      else if (key === 'className') node.className = value;
      else node.setAttribute(key, value === true ? '' : value);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  function message(name, text, kind) {
    var box = $('[data-msg="' + name + '"]');
    if (!box) return;
    box.textContent = text || '';
    box.className = 'msg' + (kind && text ? ' msg-' + kind : '');
  }

  function submitButton(form) { return $('button[type="submit"]', form); }

  // ------------------------------------------------------------------ the API

  function ApiFailure(text, status) {
    this.message = text;
    this.status = status;
  }

  function csrfToken() {
    var meta = $('meta[name="csrf-token"]');
    return meta ? meta.content : '';
  }

  // The words the page shows for a field the API names: its own form label.
  function fieldLabel(field) {
    var input = field ? document.querySelector('[name="' + CSS.escape(field) + '"]') : null;
    var label = input && input.labels && input.labels[0];
    return label ? label.textContent.trim() : '';
  }

  function errorWords(data, status) {
    if (data && typeof data.error === 'string' && data.error) {
      var text = sentence(data.error);
      if (Array.isArray(data.detail) && data.detail.length) {
        var parts = data.detail.filter(function (p) { return p && p.message; }).map(function (p) {
          var field = String(p.field || '').split('.').pop();
          var name = fieldLabel(field) || (p.field && p.field !== 'body' ? p.field : '');
          return (name ? name + ': ' : '') + String(p.message).replace(/^Value error, /, '');
        });
        if (parts.length) text = text.replace(/\.$/, '') + ': ' + parts.join('; ') + '.';
      }
      return text;
    }
    if (status >= 500) return 'The charger hit an internal error and logged the cause. Try again.';
    return 'The charger refused the request (HTTP ' + status + ').';
  }

  function goToLogin() {
    var path = location.pathname;
    location.assign(path === '/' ? '/login' : '/login?next=' + encodeURIComponent(path));
  }

  function sessionEnded() {
    // A 401 is also the answer to a wrong current password: only a session that has
    // really ended sends the owner back to the login page.
    if (!csrfToken()) return Promise.resolve(false);
    return fetch('/api/v1/session', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.status === 401; }, function () { return false; });
  }

  function api(method, path, body) {
    var headers = { Accept: 'application/json' };
    if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken();
    var init = { method: method, headers: headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch('/api/v1' + path, init).then(function (response) {
      var type = response.headers.get('content-type') || '';
      var read = type.indexOf('application/json') >= 0
        ? response.json().catch(function () { return null; })
        : Promise.resolve(null);
      return read.then(function (data) {
        if (response.ok) return data;
        var failure = new ApiFailure(errorWords(data, response.status), response.status);
        if (response.status !== 401) throw failure;
        return sessionEnded().then(function (ended) {
          if (ended) goToLogin();
          throw failure;
        });
      });
    }, function () {
      throw new ApiFailure('The charger did not answer. Check your connection and try again.', 0);
    });
  }

  function busy(button, work) {
    if (!button) return work();
    var label = button.textContent;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    button.classList.add('is-busy');
    if (button.dataset.busy) button.textContent = button.dataset.busy;
    function done() {
      button.disabled = false;
      button.removeAttribute('aria-busy');
      button.classList.remove('is-busy');
      button.textContent = label;
    }
    return Promise.resolve().then(work).then(function (result) { done(); return result; },
      function (err) { done(); throw err; });
  }

  // Run an action with a busy button and a message in words: success or the API's error.
  function act(button, msgName, work, success) {
    message(msgName, '', null);
    return busy(button, work).then(function (result) {
      if (success) message(msgName, typeof success === 'function' ? success(result) : success, 'ok');
      return result;
    }, function (err) {
      var text = err instanceof ApiFailure ? err.message : 'Something went wrong on this page: ' + err;
      message(msgName, text, 'error');
      return FAILED;
    });
  }

  // ------------------------------------------------------------------ setup and login

  function initSetup() {
    var form = $('#setup-form');
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var f = form.elements;
      if (!f.setup_code.value.trim() || !f.username.value.trim() || !f.password.value) {
        message('setup', 'Fill in the setup code, a username and a password.', 'error');
        return;
      }
      if (f.password.value !== f.password2.value) {
        message('setup', 'The two passwords are not the same. Type the same password twice.', 'error');
        f.password2.focus();
        return;
      }
      var body = { setup_code: f.setup_code.value.trim(), username: f.username.value.trim(), password: f.password.value };
      act(submitButton(form), 'setup', function () { return api('POST', '/setup', body); },
        'Your charger is set up. Next: choose your charging hours…')
        .then(function (result) { if (result !== FAILED) location.assign('/first-use'); });
    });
  }

  function initLogin() {
    var form = $('#login-form');
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var f = form.elements;
      if (!f.username.value.trim() || !f.password.value) {
        message('login', 'Type your username and password.', 'error');
        return;
      }
      var body = { username: f.username.value.trim(), password: f.password.value };
      act(submitButton(form), 'login', function () { return api('POST', '/login', body); }, 'Logged in…')
        .then(function (result) {
          if (result !== FAILED) location.assign(form.dataset.next || '/');
          else f.password.select();
        });
    });
  }

  // ------------------------------------------------------------------ charging windows

  function WindowEditor(root, onChange) {
    var self = this;
    this.root = root;
    this.windows = [];
    this.onChange = onChange || function () {};
    action('add-window', root).addEventListener('click', function () { self.add(); });
    $$('[data-days]', root).forEach(function (chip) {
      chip.addEventListener('click', function () {
        var days = chip.dataset.days.split(',');
        $$('input[data-day]', root).forEach(function (box) { box.checked = days.indexOf(box.dataset.day) >= 0; });
      });
    });
    this.render();
  }

  WindowEditor.prototype.set = function (windows) {
    this.windows = windows.map(function (w) { return { days: w.days.slice(), start: w.start, end: w.end }; });
    this.render();
  };

  WindowEditor.prototype.add = function () {
    var days = $$('input[data-day]:checked', this.root).map(function (box) { return box.dataset.day; });
    var start = $('[data-field="start"]', this.root).value;
    var end = $('[data-field="end"]', this.root).value;
    if (!days.length) {
      message('add-window', 'Tick at least one day.', 'error');
      return;
    }
    if (!start || !end) {
      message('add-window', 'Give a start and an end time.', 'error');
      return;
    }
    var window = { days: DAYS.filter(function (d) { return days.indexOf(d) >= 0; }), start: start, end: end };
    this.windows.push(window);
    this.render();
    this.onChange();
    message('add-window', 'Added ' + windowWords(window) + '. Save to keep it.', 'ok');
  };

  WindowEditor.prototype.remove = function (index) {
    var removed = this.windows.splice(index, 1)[0];
    this.render();
    this.onChange();
    message('add-window', 'Removed ' + windowWords(removed) + '. Save to keep this change.', 'ok');
  };

  WindowEditor.prototype.render = function () {
    var self = this;
    var rows = this.windows.map(function (w, index) {
      var remove = el('button', {
        type: 'button', className: 'link-button danger-text', 'aria-label': 'Remove ' + windowWords(w)
      }, 'Remove');
      remove.addEventListener('click', function () { self.remove(index); });
      return el('tr', {},
        el('td', { text: daysWords(w.days) }),
        el('td', { text: w.start }),
        el('td', { text: endWords(w) }),
        el('td', { className: 'cell-action' }, remove));
    });
    bound('windows', this.root).replaceChildren.apply(bound('windows', this.root), rows);
    bound('windows-table', this.root).hidden = !rows.length;
    bound('windows-empty', this.root).hidden = !!rows.length;
  };

  function initFirstUse() {
    var form = $('#first-use-form');
    var editor = new WindowEditor($('[data-window-editor]', form));
    var customBox = bound('custom-editor');
    function sync() { customBox.hidden = form.elements.choice.value !== 'custom'; }
    form.addEventListener('change', sync);
    sync();
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var choice = form.elements.choice.value;
      var body = { choice: choice };
      if (choice === 'custom') {
        if (!editor.windows.length) {
          message('first-use', 'Add at least one charging window, or choose another option.', 'error');
          return;
        }
        body.windows = editor.windows;
      }
      act(submitButton(form), 'first-use', function () {
        return api('POST', '/schedule/first-use', body).catch(function (err) {
          // Already chosen (another tab): nothing to do here any more.
          if (err.status === 409) location.assign('/');
          throw err;
        });
      }, 'Saved. Opening your dashboard…').then(function (result) {
        if (result !== FAILED) location.assign('/');
      });
    });
  }

  function initSchedule() {
    var form = $('#schedule-form');
    var dirtyNote = bound('dirty');
    var editor = new WindowEditor($('[data-window-editor]', form), function () { dirtyNote.hidden = false; });

    function show(schedule) {
      setText('mode', MODE_WORDS[schedule.mode] || schedule.mode);
      var list = bound('saved-windows');
      var items = schedule.mode === 'removed' ? [] : schedule.windows.map(function (w) {
        return el('li', { text: windowWords(w) });
      });
      if (schedule.mode === 'custom' && !items.length) {
        items = [el('li', { text: 'No charging windows: the charger charges only when you boost.' })];
      }
      list.replaceChildren.apply(list, items);
      setText('allowed', schedule.charging_allowed ? 'Charging is allowed now.' : 'Charging is not allowed now.');
      var next = schedule.next_change_at ? 'Next change of the hours: ' + fmtWhen(schedule.next_change_at) + '.' : '';
      if (schedule.boost) next = 'A boost is on: the charger charges whatever the hours. ' + next;
      setText('next', next);
      setText('editor-note', schedule.mode === 'default'
        ? 'These are the default hours. Change them and save to use your own.'
        : schedule.mode === 'removed' ? 'Add windows and save to limit when the charger may charge.' : '');
      editor.set(schedule.mode === 'removed' ? [] : schedule.windows);
      dirtyNote.hidden = true;
    }

    function save(button, msgName, body, words) {
      return act(button, msgName, function () { return api('PUT', '/schedule', body); }, words)
        .then(function (result) { if (result !== FAILED) show(result); });
    }

    form.addEventListener('submit', function (event) {
      event.preventDefault();
      save(submitButton(form), 'schedule', { mode: 'custom', windows: editor.windows },
        'Saved: your own charging hours apply now.');
    });
    action('use-default').addEventListener('click', function (event) {
      save(event.currentTarget, 'mode', { mode: 'default' }, 'Saved: the default off-peak hours apply now.');
    });
    action('remove-hours').addEventListener('click', function (event) {
      save(event.currentTarget, 'mode', { mode: 'removed' }, 'Saved: the charger may charge at any time.');
    });
    api('GET', '/schedule').then(show, function (err) { message('schedule', err.message, 'error'); });
  }

  // ------------------------------------------------------------------ software and security

  function secureBootWords(state) {
    // The API says "enabled", "disabled" or "unknown (why)": never more than it knows.
    var text = String(state || '');
    if (text === 'enabled') return 'On: the board starts only software signed by its maker.';
    if (text === 'disabled') return 'Off: the board starts software without checking who made it.';
    var why = /^unknown \((.*)\)$/.exec(text);
    if (why) return 'Unknown: the charger cannot tell (' + why[1] + ').';
    return 'Unknown: the charger cannot tell' + (text && text !== 'unknown' ? ' (' + text + ').' : '.');
  }

  function changedFiles(check) {
    var files = [];
    ['changed', 'added', 'missing'].forEach(function (kind) {
      (check[kind] || []).forEach(function (path) { files.push(path + ' (' + kind + ')'); });
    });
    return files;
  }

  function integrityFailed(integrity) {
    return !!(integrity && integrity.last_check && !integrity.last_check.ok);
  }

  function integrityWords(integrity) {
    if (!integrity.configured) {
      return 'Not set up: this charger was not given a signed list of its files, so it cannot check them for changes.';
    }
    var last = integrity.last_check;
    if (!last) return 'Set up, not checked yet. The charger checks its files at start and every few hours.';
    var when = ' Last checked ' + fmtWhen(last.checked_at) + '.';
    if (last.ok) return 'Intact: every file is as in the signed release.' + when;
    var what = changedFiles(last).length ? 'these files differ from the signed release:' : sentence(last.summary);
    return 'Failed: charging is held in safe mode.' + when + ' ' + sentence(what).replace(/:\.$/, ':');
  }

  function updateCheckWords(check) {
    if (check.outcome === 'update_available') {
      return 'Version ' + check.available_version + ' is available (this charger runs ' + check.current_version + ').';
    }
    if (check.outcome === 'up_to_date') return 'Up to date: ' + sentence(check.detail);
    if (check.outcome === 'could_not_check') {
      return 'Could not check for updates (' + check.detail + '). This usually means no internet connection or ' +
        'an update server that is down. A failed check does not affect charging, and the charger tries again ' +
        'by itself.';
    }
    if (check.outcome === 'rejected') {
      return 'Refused: the update server’s answer failed its security checks (' + check.detail + '). ' +
        'Nothing was installed, and the refusal is in the security log.';
    }
    return sentence(check.detail);
  }

  function updatesWords(updates) {
    if (!updates.configured) {
      return 'Not set up: no update server was provisioned for this charger, so it does not look for new versions. ' +
        'Ask your installer how it gets updates.';
    }
    return updates.last_check ? updateCheckWords(updates.last_check) : 'Set up, not checked yet.';
  }

  function updatesDetail(updates) {
    if (!updates.configured) return '';
    return 'Update server: ' + updates.repository_url + '.' +
      (updates.last_check ? ' Last checked ' + fmtWhen(updates.last_check.checked_at) + '.' : '');
  }

  // The answer to "Check for updates now", in words and how it is to be read.
  function checkedMessage(updates) {
    if (!updates.configured) {
      return ['Update checks are not set up on this charger: it has no update server to ask. ' +
        'Ask your installer how it gets updates.', 'warn'];
    }
    var check = updates.last_check;
    if (!check) return ['The charger has no answer yet. Try again in a moment.', 'warn'];
    var kind = { up_to_date: 'ok', update_available: 'ok', rejected: 'error' }[check.outcome] || 'warn';
    return [updateCheckWords(check), kind];
  }

  function firmwareWords(firmware) {
    if (!firmware) return 'Not available on this charger.';
    if (!firmware.root_ca_provisioned) {
      return 'Refused: the charger was not given the manufacturer’s certificate to check firmware against, ' +
        'so it refuses any firmware your operator sends.';
    }
    return 'Accepted only when signed by the manufacturer.';
  }

  function slotWords(firmware) {
    if (!firmware) return '';
    var slot = firmware.active_slot;
    if (!slot) return '(the software installed with the charger)';
    if (slot.version === firmware.running_version) return '(firmware installed by your operator)';
    return '(firmware ' + slot.version + ' is installed for the next start)';
  }

  // null, "progress" or "failed": the latest firmware request from the back end.
  function firmwareState(request) {
    if (!request) return null;
    if (!request.status) return 'progress';  // accepted, nothing sent yet
    if (FIRMWARE_FAILED.indexOf(request.status) >= 0) return 'failed';
    return request.status === 'Installed' || request.status === 'Idle' ? null : 'progress';
  }

  function firmwareStatusWords(request) {
    return request.status ? FIRMWARE_WORDS[request.status] || request.status : 'accepted, not started yet';
  }

  function firmwareRequestWords(request) {
    return 'Latest request (no. ' + request.request_id + (request.version ? ', version ' + request.version : '') +
      ', ' + fmtWhen(request.updated_at) + '): ' + firmwareStatusWords(request) +
      (request.detail ? ' (' + request.detail + ')' : '') + '.';
  }

  // The charger's databases, as the owner knows them.
  var DATABASE_WORDS = {
    'security.sqlite3': 'security log',
    'metering.sqlite3': 'meter history',
    'history.sqlite3': 'event history',
    'settings.sqlite3': 'settings'
  };

  function storageProblemWords(problem) {
    if (problem.kind === 'chain_broken') {
      return 'When the charger started ' + fmtWhen(problem.at) + ', the check of its security log failed: ' +
        sentence(problem.detail);
    }
    var what = DATABASE_WORDS[problem.database] || problem.database;
    return 'The charger could not read its ' + what + ' ' + fmtWhen(problem.at) + ' (' + problem.detail +
      '). It kept the damaged file as ' + problem.moved_to + ' and started a new ' + what + '.';
  }

  function storageMeaning(problems) {
    var words = [];
    if (problems.some(function (p) { return p.kind === 'chain_broken'; })) {
      words.push('Someone with access to the charger’s storage may have changed or removed security records, ' +
        'or its storage is failing. The records stay as they are, as evidence, and new events are still recorded.');
    }
    if (problems.some(function (p) { return p.kind === 'moved_aside'; })) {
      words.push('What the damaged file held is no longer shown here, but nothing was deleted. A failing memory ' +
        'card is the usual cause.');
    }
    if (problems.some(function (p) { return p.database === 'settings.sqlite3'; })) {
      words.push('Your settings are back to their defaults: check your charging hours.');
    }
    words.push('Charging goes on as usual.');
    return words.join(' ');
  }

  // ------------------------------------------------------------------ dashboard

  function initDashboard() {
    var SOFTWARE_EVERY_MS = 10000;  // integrity, updates and stored data change seldom: every 10 s
    var timer = null;
    var deadline = null;  // performance.now() at which the running delay ends
    var askedAfterDelay = false;
    var updated = bound('updated');
    var software = null;  // the latest [integrity, updates], read with the status now and then
    var softwareReadAt = -Infinity;
    var refreshSeq = 0;  // the number of the latest read of the charger
    var shownSeq = 0;  // the read (or action) the page shows now

    function showDelay(delay) {
      var card = bound('delay-card');
      bound('delay-running').hidden = !delay.running;
      bound('delay-idle').hidden = delay.running;
      card.classList.toggle('attention', delay.running);
      if (delay.running) {
        var end = performance.now() + delay.remaining_s * 1000;
        // The API counts whole seconds: keep our smoother clock unless it drifted.
        if (deadline === null || Math.abs(end - deadline) > 1500) deadline = end;
        askedAfterDelay = false;
        var held = delay.limit_during_delay_a;
        var coming = delay.limit_after_delay_a;
        setText('delay-change', held === 0
          ? 'Charging is held off now; it will be offered ' + fmtAmps(coming) + ' when the delay ends.'
          : 'Holding ' + fmtAmps(held) + ' now; ' + fmtAmps(coming) + ' when the delay ends.');
        setText('delay-cause', 'Why: ' + (CAUSE_WORDS[delay.cause] || delay.cause || 'a change of rate') + '.');
        tick();
      } else {
        deadline = null;
        setText('delay-idle', delay.enabled
          ? 'No delay running. Before it starts charging or changes the rate, the charger may wait a random time of up to ' +
            fmtSeconds(delay.max_duration_s) + '.'
          : 'No delay running. The randomised delay is switched off in Settings.');
      }
    }

    function tick() {
      if (deadline === null) return;
      var left = Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
      setText('delay-remaining', fmtCountdown(left));
      if (left === 0 && !askedAfterDelay) {
        askedAfterDelay = true;
        refresh();
      }
    }

    function stateDetail(status, schedule) {
      if (status.tamper_alarm_since && !status.contactor_closed) return 'Charging is stopped by the tamper alarm.';
      if (status.state === 'B') {
        if (status.random_delay.running) return 'Waiting for the randomised delay to end.';
        if (!status.charging_allowed_by_schedule) return 'Waiting for your charging hours (or boost to charge now).';
        if (status.offered_current_a < 6) return 'No current can be offered now (see what limits the current).';
        return 'The vehicle is not asking for charge: it may be full or paused.';
      }
      if (status.state === 'A') return 'Plug your vehicle in to charge.';
      if (status.state === 'C' || status.state === 'D') {
        return schedule && schedule.boost ? 'Boost is on.' : 'The vehicle is charging.';
      }
      return 'The charger cannot charge now.';
    }

    // --- the tamper alarm: charging stops until the owner has looked and acknowledges here.

    var tamperAsk = action('tamper-ask');
    var tamperConfirm = $('#tamper-confirm');

    function closeTamperConfirm() {
      tamperConfirm.hidden = true;
      tamperAsk.setAttribute('aria-expanded', 'false');
      tamperAsk.hidden = false;
    }

    function showTamper(status) {
      var since = status.tamper_alarm_since;
      var alarm = bound('tamper-alarm');
      if (!since) {
        if (!alarm.hidden) closeTamperConfirm();
        alarm.hidden = true;
        return;
      }
      setText('tamper-since', 'The tamper switch in the charger’s enclosure tripped ' + fmtWhen(since) +
        ': someone may have opened its cover.');
      if (alarm.hidden) message('tamper', '', null);
      alarm.hidden = false;
    }

    tamperAsk.addEventListener('click', function () {
      tamperConfirm.hidden = false;
      tamperAsk.setAttribute('aria-expanded', 'true');
      tamperAsk.hidden = true;
      message('tamper', '', null);
      action('tamper-no').focus();
    });
    action('tamper-no').addEventListener('click', function () {
      closeTamperConfirm();
      tamperAsk.focus();
    });
    action('tamper-yes').addEventListener('click', function (event) {
      act(event.currentTarget, 'tamper', function () { return api('POST', '/tamper/acknowledge'); },
        'Alarm acknowledged and logged. Charging can start again now.').then(function (status) {
        closeTamperConfirm();
        if (status !== FAILED) {
          shownSeq = refreshSeq;  // reads sent before the acknowledgement are out of date
          showTamper(status);
        }
        // The alarm (and the button in it) may be gone: the answer is where focus goes.
        $('[data-msg="tamper"]').focus();
        refresh();
      });
    });

    // --- software: a failed integrity check, a new version, firmware being installed.

    function showSoftware(status, integrity, updates) {
      var failed = integrityFailed(integrity);
      bound('integrity-alert').hidden = !failed;
      if (failed) {
        var check = integrity.last_check;
        var files = changedFiles(check);
        setText('integrity-when', 'The check ' + fmtWhen(check.checked_at) + ' found ' + (files.length
          ? (files.length === 1 ? 'a file that differs' : files.length + ' files that differ') +
            ' from the signed release:'
          : 'that it cannot confirm the software: ' + sentence(check.summary)));
        setList('integrity-files', files);
        var limit = status.limit;
        var safety = limit.source === 'safety';
        setText('integrity-hold', safety && limit.amps === 0
          ? 'Charging is held in safe mode: it is stopped until a check finds the software as released.'
          : 'Charging is held in safe mode' + (safety ? ', at most ' + fmtAmps(limit.amps) : '') +
            ', until a check finds the software as released.');
      }

      var check = updates.last_check;
      var available = !!(check && check.outcome === 'update_available');
      bound('update-notice').hidden = !available;
      if (available) {
        setText('update-title', 'A new software version is available');
        setText('update-text', 'Version ' + check.available_version + ' is available; this charger runs ' +
          check.current_version + '. Your installer or operator installs it.');
      }

      var firmware = updates.firmware;
      var request = firmware && firmware.last_request;
      var state = firmwareState(request);
      var notice = bound('firmware-notice');
      notice.hidden = !state;
      if (state) {
        var version = request.version ? ' ' + request.version : '';
        notice.className = 'alert ' + (state === 'failed' ? 'alert-warn' : 'alert-info');
        setText('firmware-title', state === 'failed' ? 'A firmware update failed' : 'Firmware update in progress');
        setText('firmware-text', state === 'failed'
          ? 'Firmware' + version + ' from your operator: ' + firmwareStatusWords(request) +
            (request.detail ? ' (' + request.detail + ')' : '') + '. The charger runs version ' +
            firmware.running_version + '.'
          : 'Your operator is installing firmware' + version + ': ' + firmwareStatusWords(request) +
            '. The charger may restart by itself to finish; charging resumes after.');
      }
    }

    // --- stored data: a security log that fails its check, a damaged database kept aside.

    function showStorage(storage) {
      var problems = storage.problems;
      bound('storage-alert').hidden = !problems.length;
      if (!problems.length) return;
      var chain = problems.some(function (p) { return p.kind === 'chain_broken'; });
      var log = problems.some(function (p) { return p.database === 'security.sqlite3'; });
      setText('storage-title', chain ? 'The charger’s security log has been altered'
        : log ? 'The charger’s security log was damaged' : 'Some of the charger’s stored data was damaged');
      setList('storage-problems', problems.map(storageProblemWords));
      setText('storage-meaning', storageMeaning(problems));
    }

    function show(status, schedule) {
      showTamper(status);
      var words = STATE_WORDS[status.state] || ['State ' + status.state, 'error'];
      var badge = setText('state', words[0]);
      badge.className = 'badge badge-' + words[1];
      setText('state-detail', stateDetail(status, schedule));
      setText('power', fmtKw(status.power_w));
      setText('offered', fmtAmps(status.offered_current_a) + (status.phases > 1 ? ' × ' + status.phases : ''));
      setText('measured', fmtAmps(status.measured_current_a));
      setText('session-energy', status.session ? fmtKwh(status.session.energy_wh) : 'No session');
      setText('session-since', status.session ? 'Session started ' + fmtWhen(status.session.started_at) + '.' : '');
      var limit = status.limit;
      setText('limit-amps', fmtAmps(limit.amps) + (limit.phases > 1 ? ' per phase, ' + limit.phases + ' phases' : ''));
      setText('limit-source', 'Set by ' + (SOURCE_WORDS[limit.source] || limit.source) + '.');
      setText('limit-reason', limit.reason ? sentence(limit.reason) : '');
      showDelay(status.random_delay);
      var allowed = status.charging_allowed_by_schedule;
      if (schedule) {
        var inside = schedule.mode === 'removed' ? ''
          : schedule.within_charging_hours ? ' Inside your charging hours now.' : ' Outside your charging hours now.';
        setText('hours-now', (MODE_WORDS[schedule.mode] || schedule.mode) + '.' + inside);
        setText('hours-next', schedule.next_change_at ? 'Next change: ' + fmtWhen(schedule.next_change_at) + '.' : '');
        var boost = schedule.boost;
        setText('boost-state', boost
          ? 'Boost on ' + (boost.until ? 'until ' + fmtWhen(boost.until) : 'until the vehicle is unplugged') + '.'
          : allowed ? 'Charging is allowed now.' : 'Charging waits for your hours. Boost to charge now.');
        action('boost').hidden = !!boost;
        action('stop-boost').hidden = !boost;
      }
    }

    function refresh() {
      clearTimeout(timer);
      var seq = ++refreshSeq;
      var reads = [api('GET', '/status'), api('GET', '/schedule'), api('GET', '/dsr').catch(function () { return null; })];
      var now = performance.now();
      var readSoftware = now - softwareReadAt >= SOFTWARE_EVERY_MS;
      // The software's state is secondary here: a failed read of it never hides the status.
      function orNull() { return null; }
      if (readSoftware) {
        reads.push(api('GET', '/integrity').catch(orNull), api('GET', '/updates').catch(orNull),
          api('GET', '/storage').catch(orNull));
      }
      return Promise.all(reads).then(function (all) {
        // An answer overtaken by a later one, or by an action, would show an old state.
        if (seq <= shownSeq) return;
        shownSeq = seq;
        show(all[0], all[1]);
        if (all[2]) showDsr(all[2]);
        if (readSoftware && all[3] && all[4]) {
          software = [all[3], all[4]];
          softwareReadAt = now;
        }
        if (software) showSoftware(all[0], software[0], software[1]);
        if (readSoftware && all[5]) showStorage(all[5]);
        updated.textContent = 'Updated ' + timeFmt.format(new Date()) + '.';
        updated.classList.remove('stale');
      }, function (err) {
        updated.textContent = 'Cannot read the charger: ' + err.message + ' Trying again…';
        updated.classList.add('stale');
      }).then(function () {
        // An action's refresh may overlap the poll's: one timer only, never two loops.
        clearTimeout(timer);
        timer = setTimeout(refresh, POLL_MS);
      });
    }

    // The DSR events in force: who asked, the limit, until when, and an opt-out each.
    function showDsr(dsr) {
      var active = dsr.events.filter(function (event) { return event.active; });
      bound('dsr-card').hidden = active.length === 0;
      var list = bound('dsr-events');
      var shown = active.map(function (event) { return event.id + (event.opted_out ? '/out' : '') + event.amps; });
      if (list.dataset.shown === shown.join('|') + dsr.overridden) return;  // unchanged: keep focus
      list.dataset.shown = shown.join('|') + dsr.overridden;
      list.replaceChildren.apply(list, active.map(function (event) {
        var item = document.createElement('li');
        var who = DSR_CHANNEL_WORDS[event.source] || 'A demand side response provider';
        var until = event.until ? ' until ' + fmtWhen(event.until) : ' until the event ends';
        var text = document.createElement('p');
        text.textContent = event.opted_out || dsr.overridden
          ? who + ' asked to limit charging to ' + fmtAmps(event.amps) + until + '. You opted out: it does not apply.'
          : who + ' limits charging to ' + fmtAmps(event.amps) + until + '.';
        item.appendChild(text);
        if (!event.opted_out && !dsr.overridden) {
          var button = document.createElement('button');
          button.type = 'button';
          button.className = 'secondary';
          button.dataset.busy = 'Opting out…';
          button.textContent = 'Opt out of this event';
          button.addEventListener('click', function () {
            act(button, 'dsr', function () { return api('POST', '/dsr/override', { event_id: event.id }); },
              'Opted out: charging is no longer limited by this event.').then(refresh);
          });
          item.appendChild(button);
        }
        return item;
      }));
    }

    function wire(name, msgName, method, path, words) {
      var button = action(name);
      if (!button) return;
      button.addEventListener('click', function () {
        act(button, msgName, function () { return api(method, path); }, words).then(refresh);
      });
    }

    wire('cancel-delay', 'delay', 'POST', '/random-delay/cancel', 'Delay cancelled: the new rate applies now.');
    wire('boost', 'boost', 'POST', '/boost', 'Boost on: charging now, until the vehicle is unplugged.');
    wire('stop-boost', 'boost', 'DELETE', '/boost', 'Boost stopped: your charging hours apply again.');
    wire('sim-plug', 'sim', 'POST', '/sim/plug', simWords);
    wire('sim-unplug', 'sim', 'POST', '/sim/unplug', simWords);
    wire('sim-pause', 'sim', 'POST', '/sim/pause', simWords);
    wire('sim-tamper', 'sim', 'POST', '/sim/tamper', 'Cover opened: the tamper switch has tripped.');

    setInterval(tick, 250);
    refresh();
  }

  function simWords(result) {
    var soc = Math.round(result.soc * 100);
    var state = !result.plugged_in ? 'Vehicle unplugged' : result.paused ? 'Vehicle plugged in, paused'
      : 'Vehicle plugged in';
    return state + '; battery at ' + soc + '\u00a0%.';
  }

  // ------------------------------------------------------------------ history

  function chartWidth(holder) { return Math.max(260, holder.clientWidth); }

  function makeChart(holder, options, data) {
    holder.replaceChildren();
    var chart = new window.uPlot(Object.assign({ width: chartWidth(holder), height: 260 }, options), data, holder);
    holder.chart = chart;
    return chart;
  }

  function fromZero(u, min, max) {
    // Start at zero, leave headroom above the highest value.
    return [0, max > 0 ? max * 1.15 : 1];
  }

  function unitTicks(unit) {
    // As many decimals as the tick spacing needs: 0.02 kWh steps must not all read 0.0.
    return function (u, values, axis, space, incr) {
      var decimals = Math.min(3, Math.max(0, -Math.floor(Math.log10(incr || 1))));
      return values.map(function (v) { return v.toFixed(decimals) + ' ' + unit; });
    };
  }

  function timeTicks(u, values, axis, space, incr) {
    // UK style: 14:00, a date at midnight, 26 Nov, Nov 2025.
    return values.map(function (ts, index) {
      var when = new Date(ts * 1000);
      if (incr < 86400) {
        var clock = shortTimeFmt.format(when);
        return clock === '00:00' ? dayMonthFmt.format(when) : clock;
      }
      if (incr < 28 * 86400) return dayMonthFmt.format(when);
      var month = monthFmt.format(when);
      return index === 0 || month === 'Jan' ? monthYearFmt.format(when) : month;
    });
  }

  function londonDate(ts) { return window.uPlot.tzDate(new Date(ts * 1000), LONDON); }

  function withGaps(xs, ys, step) {
    // Buckets with nothing recorded are left out by the API: break the line there
    // instead of drawing across the gap.
    var outX = [];
    var outY = [];
    for (var i = 0; i < xs.length; i++) {
      if (i > 0 && xs[i] - xs[i - 1] > step * 1.5) {
        outX.push(xs[i - 1] + step);
        outY.push(null);
      }
      outX.push(xs[i]);
      outY.push(ys[i]);
    }
    return [outX, outY];
  }

  function initHistory() {
    var powerHolder = $('[data-chart="power"]');
    var energyHolder = $('[data-chart="energy"]');
    var range = '1m';
    var months = 13;
    var powerTimer = null;
    // The whole period asked for, so a chart with little data still shows where it is.
    var powerSpan = [0, 1];
    var energySpan = [0, 1];

    function drawPower(history) {
      var rows = history.rows;
      var label = range === '1s' ? 'the last hour' : 'the last day';
      if (!rows.length) {
        if (powerHolder.chart) powerHolder.chart.destroy();
        powerHolder.chart = null;
        powerHolder.replaceChildren(el('p', { className: 'empty', text: 'No measurements in ' + label + ' yet.' }));
        setText('power-summary', 'Nothing measured in ' + label + '.');
        return;
      }
      powerSpan = [Date.parse(history.start) / 1000, Date.parse(history.end) / 1000];
      var xs = rows.map(function (r) { return Date.parse(r.start) / 1000; });
      var ys = rows.map(function (r) { return r.mean_power_w === null ? null : r.mean_power_w / 1000; });
      var data = withGaps(xs, ys, range === '1s' ? 1 : 60);
      var energy = rows.reduce(function (sum, r) { return sum + r.import_wh; }, 0);
      var peak = rows.reduce(function (m, r) { return Math.max(m, r.max_power_w || 0); }, 0);
      setText('power-summary', 'In ' + label + ': ' + fmtKwh(energy) + ' delivered, peak ' + fmtKw(peak) + '.');
      powerHolder.setAttribute('aria-label', 'Chart of charging power over ' + label + '; peak ' + fmtKw(peak));
      if (powerHolder.chart) {
        powerHolder.chart.setData(data);
        return;
      }
      makeChart(powerHolder, {
        tzDate: londonDate,
        scales: { x: { time: true, range: function () { return powerSpan; } }, y: { range: fromZero } },
        series: [
          { label: 'Time', value: function (u, ts) { return ts === null ? '–' : secondsFmt.format(new Date(ts * 1000)); } },
          {
            label: 'Power', stroke: '#0f7b5f', fill: 'rgba(15, 123, 95, 0.14)', width: 2,
            value: function (u, v) { return v === null || v === undefined ? '–' : v.toFixed(2) + ' kW'; }
          }
        ],
        axes: [
          { stroke: '#4a5560', grid: { stroke: '#e6e9ec' }, values: timeTicks },
          { stroke: '#4a5560', grid: { stroke: '#e6e9ec' }, size: 64, values: unitTicks('kW') }
        ]
      }, data);
    }

    function loadPower() {
      clearTimeout(powerTimer);
      var link = bound('power-csv');
      link.href = '/api/v1/meter/export.csv?resolution=' + range;
      return api('GET', '/meter/history?resolution=' + range).then(drawPower, function (err) {
        setText('power-summary', err.message);
      }).then(function () {
        // The history grows as the charger measures: keep the chart current.
        powerTimer = setTimeout(loadPower, range === '1s' ? 5000 : 30000);
      });
    }

    function loadEnergy() {
      var from = new Date();
      if (months) from.setMonth(from.getMonth() - months);
      else from.setDate(from.getDate() - 30);
      var period = months ? 'the last 13 months' : 'the last 30 days';
      var query = 'resolution=1d&from=' + encodeURIComponent(from.toISOString());
      bound('energy-csv').href = '/api/v1/meter/export.csv?' + query;
      return api('GET', '/meter/history?' + query).then(function (history) {
        var byDay = {};
        history.rows.forEach(function (r) { byDay[r.start.slice(0, 10)] = r.import_wh / 1000; });
        // One bar a day, at midday UK time, with empty days left empty.
        var xs = [];
        var ys = [];
        var seen = {};
        var start = Date.parse(history.start);
        var end = Date.parse(history.end);
        energySpan = [start / 1000, end / 1000 + 86400];
        for (var t = start + 12 * 3600 * 1000; t <= end + 86400000; t += 86400000) {
          var key = dayKeyFmt.format(new Date(t));
          if (seen[key] || t > end + 12 * 3600 * 1000) continue;
          seen[key] = true;
          xs.push(Math.floor(t / 1000));
          ys.push(byDay[key] === undefined ? null : byDay[key]);
        }
        var total = history.rows.reduce(function (sum, r) { return sum + r.import_wh; }, 0);
        var days = history.rows.filter(function (r) { return r.import_wh > 0; }).length;
        setText('energy-summary', history.rows.length
          ? fmtKwh(total) + ' delivered on ' + days + (days === 1 ? ' day' : ' days') + ' in ' + period + '.'
          : 'Nothing measured in ' + period + ' yet.');
        energyHolder.setAttribute('aria-label', 'Chart of energy per day; ' + fmtKwh(total) + ' in total');
        makeChart(energyHolder, {
          tzDate: londonDate,
          scales: { x: { time: true, range: function () { return energySpan; } }, y: { range: fromZero } },
          series: [
            { label: 'Day', value: function (u, ts) { return ts === null ? '–' : dayKeyLong.format(new Date(ts * 1000)); } },
            {
              label: 'Energy', stroke: '#1d5fa8', fill: 'rgba(29, 95, 168, 0.75)', width: 1,
              paths: window.uPlot.paths.bars({ size: [0.9, 40], align: 0 }),
              points: { show: false },
              value: function (u, v) { return v === null || v === undefined ? '–' : v.toFixed(2) + ' kWh'; }
            }
          ],
          axes: [
            { stroke: '#4a5560', grid: { stroke: '#e6e9ec' }, values: timeTicks },
            { stroke: '#4a5560', grid: { stroke: '#e6e9ec' }, size: 72, values: unitTicks('kWh') }
          ]
        }, [xs, ys]);
      }, function (err) {
        setText('energy-summary', err.message);
      });
    }

    $$('[data-months]').forEach(function (button) {
      button.addEventListener('click', function () {
        months = Number(button.dataset.months);
        $$('[data-months]').forEach(function (b) { b.setAttribute('aria-pressed', String(b === button)); });
        setText('energy-summary', 'Loading…');
        loadEnergy();
      });
    });

    $$('[data-range]').forEach(function (button) {
      button.addEventListener('click', function () {
        range = button.dataset.range;
        $$('[data-range]').forEach(function (b) { b.setAttribute('aria-pressed', String(b === button)); });
        if (powerHolder.chart) powerHolder.chart.destroy();
        powerHolder.chart = null;
        setText('power-summary', 'Loading…');
        loadPower();
      });
    });

    var resizeTimer = null;
    window.addEventListener('resize', function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () {
        [powerHolder, energyHolder].forEach(function (holder) {
          if (holder.chart) holder.chart.setSize({ width: chartWidth(holder), height: 260 });
        });
      }, 150);
    });

    loadPower();
    loadEnergy();
  }

  // ------------------------------------------------------------------ sessions

  function csvField(value) {
    var text = value === null || value === undefined ? '' : String(value);
    // Quote always; a leading = + - @ would be a formula to a spreadsheet.
    if (/^[=+\-@]/.test(text)) text = "'" + text;
    return '"' + text.replace(/"/g, '""') + '"';
  }

  function download(name, text, type) {
    var url = URL.createObjectURL(new Blob([text], { type: type }));
    var link = el('a', { href: url, download: name });
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  function rateChangeItem(change) {
    var what = (KIND_WORDS[change.kind] || change.kind) + ': ' + fmtAmps(change.amps) +
      (change.phases > 1 ? ' on ' + change.phases + ' phases' : '');
    var why = 'from ' + (SOURCE_WORDS[change.source] || change.source) + (change.cause ? ' (' + change.cause + ')' : '');
    return el('li', {},
      el('time', { datetime: change.at, text: timeFmt.format(new Date(change.at)) }), ' ',
      el('span', { text: what }), ' ',
      el('span', { className: 'muted', text: why }));
  }

  function initSessions() {
    var PAGE = 50;
    var all = [];
    var body = bound('rows');
    var more = action('more');

    function row(s) {
      var details = s.rate_changes.length
        ? el('details', {},
          el('summary', { text: s.rate_changes.length + (s.rate_changes.length === 1 ? ' change' : ' changes') }),
          el('ol', { className: 'rate-changes' }, ...s.rate_changes.map(rateChangeItem)))
        : el('span', { className: 'muted', text: 'None' });
      return el('tr', {},
        el('td', { 'data-label': 'Started', text: fmtDateTime(s.started_at) }),
        el('td', { 'data-label': 'Ended', text: s.stopped_at ? fmtDateTime(s.stopped_at) : 'In progress' }),
        el('td', { className: 'num', 'data-label': 'Energy', text: fmtKwh(s.import_wh) }),
        el('td', { className: 'num', 'data-label': 'Peak power', text: fmtKw(s.peak_power_w) }),
        el('td', { 'data-label': 'Why it ended', text: s.stopped_at || s.end_reason ? (END_WORDS[s.end_reason] || s.end_reason || '–') : 'Still charging' }),
        el('td', { 'data-label': 'Rate changes' }, details));
    }

    function load(button) {
      return act(button, 'sessions', function () {
        return api('GET', '/sessions?limit=' + PAGE + '&offset=' + all.length);
      }).then(function (page) {
        if (page === FAILED) return;
        all = all.concat(page);
        page.forEach(function (s) { body.appendChild(row(s)); });
        more.hidden = page.length < PAGE;
        bound('empty').hidden = all.length > 0;
        setText('summary', all.length
          ? all.length + (all.length === 1 ? ' session' : ' sessions') + ' shown, newest first. Times are UK time.'
          : 'No sessions yet.');
      });
    }

    more.addEventListener('click', function () { load(more); });
    action('sessions-csv').addEventListener('click', function () {
      var lines = [['session_id', 'started_at', 'stopped_at', 'import_wh', 'export_wh', 'duration_s',
        'peak_power_w', 'end_reason', 'rate_changes'].join(',')];
      all.forEach(function (s) {
        lines.push([s.session_id, s.started_at, s.stopped_at, s.import_wh, s.export_wh, s.duration_s,
          s.peak_power_w, s.end_reason, s.rate_changes.length].map(csvField).join(','));
      });
      download('ukscp-sessions.csv', lines.join('\r\n') + '\r\n', 'text/csv;charset=utf-8');
      message('sessions', 'Downloaded ' + all.length + ' sessions as CSV.', 'ok');
    });
    load(null);
  }

  // ------------------------------------------------------------------ settings

  function initSettings() {
    var delayForm = $('#delay-form');
    var current = null;
    var edited = false;  // never overwrite what the owner is typing with a late answer
    delayForm.addEventListener('input', function () { edited = true; });

    function showDelay(delay, saved) {
      current = delay;
      if (saved || !edited) {
        delayForm.elements.enabled.checked = delay.enabled;
        delayForm.elements.max_duration_s.value = String(delay.max_duration_s);
        edited = false;
      }
      setText('delay-state', 'Now: ' + (delay.enabled ? 'on, up to ' + fmtSeconds(delay.max_duration_s) : 'off') +
        (delay.running ? '. A delay is running: you can cancel it on the dashboard.' : '.'));
    }

    delayForm.addEventListener('submit', function (event) {
      event.preventDefault();
      var raw = delayForm.elements.max_duration_s.value.trim();
      var seconds = Number(raw);
      if (!/^\d+$/.test(raw) || seconds > 1800) {
        message('delay', 'Give the longest delay as a whole number of seconds from 0 to 1800.', 'error');
        return;
      }
      var enabled = delayForm.elements.enabled.checked;
      act(submitButton(delayForm), 'delay', function () {
        var steps = Promise.resolve(current);
        if (!current || seconds !== current.max_duration_s) {
          steps = api('PUT', '/random-delay', { max_duration_s: seconds });
        }
        return steps.then(function (delay) {
          if (delay && delay.enabled === enabled) return delay;
          return api('POST', enabled ? '/random-delay/enable' : '/random-delay/disable');
        });
      }, function (delay) {
        return 'Saved: the randomised delay is ' + (delay.enabled ? 'on, up to ' + fmtSeconds(delay.max_duration_s) : 'off') + '.';
      }).then(function (delay) { if (delay !== FAILED) showDelay(delay, true); });
    });
    api('GET', '/random-delay').then(showDelay, function (err) { message('delay', err.message, 'error'); });

    var pwForm = $('#password-form');
    pwForm.addEventListener('submit', function (event) {
      event.preventDefault();
      var f = pwForm.elements;
      if (!f.old_password.value || !f.new_password.value) {
        message('password', 'Type your current password and a new one.', 'error');
        return;
      }
      if (f.new_password.value !== f.new_password2.value) {
        message('password', 'The two new passwords are not the same. Type the same new password twice.', 'error');
        f.new_password2.focus();
        return;
      }
      var body = { old_password: f.old_password.value, new_password: f.new_password.value };
      act(submitButton(pwForm), 'password', function () {
        return api('POST', '/password', body).catch(function (err) {
          // The account module says "wrong username or password"; here only the password was typed.
          if (err.status === 401) err.message = 'Your current password is not correct.';
          throw err;
        });
      },
        'Password changed. Other devices have been logged out.').then(function (result) {
        if (result !== FAILED) pwForm.reset();
      });
    });

    initBackend();
    initSoftware();

    var ask = action('erase-ask');
    var confirmBox = $('#erase-confirm');
    function closeConfirm() {
      confirmBox.hidden = true;
      ask.setAttribute('aria-expanded', 'false');
      ask.hidden = false;
    }
    ask.addEventListener('click', function () {
      confirmBox.hidden = false;
      ask.setAttribute('aria-expanded', 'true');
      ask.hidden = true;
      message('erase', '', null);
      action('erase-no').focus();
    });
    action('erase-no').addEventListener('click', function () {
      closeConfirm();
      ask.focus();
    });
    action('erase-yes').addEventListener('click', function (event) {
      // Every session ends with the deletion, this one too: the login page says what happened.
      act(event.currentTarget, 'erase', function () { return api('DELETE', '/personal-data'); })
        .then(function (result) {
          if (result === FAILED) closeConfirm();
          else location.assign('/login?erased=1');
        });
    });
  }

  // The back end (regulation 6): the owner may re-point the charger at another CSMS.
  function initBackend() {
    var form = $('#backend-form');
    var f = form.elements;
    var edited = false;
    form.addEventListener('input', function () { edited = true; });

    function show(backend, saved) {
      var line = bound('csms-status');
      line.classList.toggle('is-online', backend.online);
      line.lastChild.textContent = !backend.enabled ? 'No back end: the charger works on its own' :
        (backend.online ? 'Connected to ' : 'Not connected, trying: ') + backend.url +
        ' (chosen by ' + (backend.chosen_by === 'owner' ? 'you' : 'the installer') + ')';
      setText('be-key-hint', backend.authorization_key_set
        ? '16 to 40 characters. Leave empty to keep the one stored.'
        : '16 to 40 characters. None is stored yet.');
      if (saved || !edited) {
        f.enabled.checked = backend.enabled;
        f.url.value = backend.url;
        f.identity.value = backend.identity;
        f.version.value = backend.version;
        f.security_profile.value = String(backend.security_profile);
        f.authorization_key.value = '';
        f.ca_certificate.value = '';
        edited = false;
      }
    }

    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (!f.url.value.trim() || !f.identity.value.trim()) {
        message('backend', 'Give the back end\'s address and this charger\'s identity there.', 'error');
        return;
      }
      var body = {
        enabled: f.enabled.checked,
        url: f.url.value.trim(),
        identity: f.identity.value.trim(),
        version: f.version.value,
        security_profile: Number(f.security_profile.value)
      };
      if (f.authorization_key.value) body.authorization_key = f.authorization_key.value;
      if (f.ca_certificate.value.trim()) body.ca_certificate = f.ca_certificate.value.trim();
      act(submitButton(form), 'backend', function () { return api('PUT', '/backend', body); }, function (b) {
        return b.enabled ? 'Saved: the charger now reports to ' + b.url + '.' : 'Saved: the charger has no back end now.';
      }).then(function (backend) { if (backend !== FAILED) show(backend, true); });
    });
    action('backend-revert').addEventListener('click', function (event) {
      act(event.currentTarget, 'backend', function () { return api('DELETE', '/backend'); },
        'The charger reports to the back end its installer set up again.').then(function (backend) {
        if (backend !== FAILED) show(backend, true);
      });
    });

    function refresh() {
      api('GET', '/backend').then(function (backend) { show(backend, false); },
        function (err) { message('backend', err.message, 'error'); });
    }
    refresh();
    setInterval(refresh, 10000);
  }

  // The Software card: version, the integrity check, secure boot, updates and firmware.
  function initSoftware() {
    function showIntegrity(integrity) {
      setText('sw-integrity', integrityWords(integrity));
      setList('sw-integrity-files', integrityFailed(integrity) ? changedFiles(integrity.last_check) : []);
      setText('sw-secure-boot', secureBootWords(integrity.secure_boot));
    }

    function showUpdates(updates) {
      setText('sw-updates', updatesWords(updates));
      var detail = setText('sw-updates-detail', updatesDetail(updates));
      detail.hidden = !detail.textContent;
      var firmware = updates.firmware;
      setText('sw-slot', slotWords(firmware));
      setText('sw-firmware', firmwareWords(firmware));
      var request = setText('sw-firmware-request', firmware && firmware.last_request
        ? firmwareRequestWords(firmware.last_request) : '');
      request.hidden = !request.textContent;
    }

    var check = action('check-updates');
    check.addEventListener('click', function () {
      act(check, 'updates', function () { return api('POST', '/updates/check'); }).then(function (updates) {
        if (updates === FAILED) return;
        showUpdates(updates);
        var said = checkedMessage(updates);
        message('updates', said[0], said[1]);
      });
    });

    function fail(err) { message('software', err.message, 'error'); }
    api('GET', '/integrity').then(showIntegrity, fail);
    api('GET', '/updates').then(showUpdates, fail);
  }

  // ------------------------------------------------------------------ security log

  function initSecurityLog() {
    var PAGE = 100;
    var oldest = null;
    var body = bound('rows');
    var more = action('more');

    function verify(button) {
      return act(button, 'verify', function () { return api('GET', '/security-log/verify'); }).then(function (check) {
        if (check === FAILED) return;
        var chain = bound('chain');
        chain.className = 'chain ' + (check.ok ? 'chain-ok' : 'chain-broken');
        chain.textContent = check.ok
          ? 'Intact: all ' + check.checked + ' records check out.'
          : 'Broken at record ' + check.first_broken_id + ': ' + check.reason;
      });
    }

    function load(button) {
      var query = '?limit=' + PAGE + (oldest ? '&before_id=' + oldest : '');
      return act(button, 'records', function () { return api('GET', '/security-log' + query); }).then(function (records) {
        if (records === FAILED) return;
        records.forEach(function (r) {
          var event = el('td', { 'data-label': 'Event' },
            el('span', { text: humanEvent(r.type), title: r.type }),
            r.critical ? el('span', { className: 'tag tag-critical', text: 'critical' }) : null);
          body.appendChild(el('tr', {},
            el('td', { className: 'num', 'data-label': 'No.', text: String(r.id) }),
            el('td', { 'data-label': 'Time', text: secondsFmt.format(new Date(r.timestamp)) }),
            event,
            el('td', { className: 'info', 'data-label': 'Details', text: r.info })));
          oldest = r.id;
        });
        more.hidden = records.length < PAGE;
      });
    }

    action('verify').addEventListener('click', function (event) { verify(event.currentTarget); });
    more.addEventListener('click', function () { load(more); });
    verify(null);
    load(null);
  }

  // ------------------------------------------------------------------ start

  var PAGES = {
    setup: initSetup,
    login: initLogin,
    first_use: initFirstUse,
    dashboard: initDashboard,
    schedule: initSchedule,
    history: initHistory,
    sessions: initSessions,
    settings: initSettings,
    security_log: initSecurityLog
  };

  function start() {
    var init = PAGES[document.body.dataset.page];
    if (init) init();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}());
