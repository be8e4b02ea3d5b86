/** The report page's inline style and script (nothing is loaded from the network). */

export const REPORT_STYLE = `body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#202124;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}.muted{color:#5f6368}.small{font-size:12px}.error{white-space:pre-wrap;font-size:12px;max-width:60ch}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.card{border:1px solid #dadce0;border-radius:8px;padding:10px 14px;min-width:110px}
.card b{display:block;font-size:22px}.timeline,.lanes{border:1px solid #dadce0;border-radius:6px;background:#fafafa}
.lane,.tick{font-size:11px;fill:#5f6368}.grid{stroke:#e8eaed}figure{margin:0 0 16px}figcaption{margin-bottom:4px}
.area-succeeded{fill:#2e9d5b}.area-failed{fill:#d64541}.area-other{fill:#9aa0a6}.capacity{stroke:#202124;stroke-dasharray:4 3}
.hover{fill:transparent}.hover:hover{fill:rgba(32,33,36,.08)}.heat rect{fill:#4a7fd6}.heat rect.idle{fill:#eef1f6}.lanes{margin-top:2px}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e8eaed;padding:5px 8px;text-align:left;vertical-align:top;white-space:nowrap}td.error{white-space:pre-wrap;min-width:30ch}
th{user-select:none;background:#f8f9fa;position:sticky;top:0}th.sortable{cursor:pointer}th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
.usage{border:1px solid #dadce0;border-radius:6px;background:#fafafa}.use,.hist{fill:#4a7fd6}.limit{stroke:#202124;stroke-width:2}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:6px}code{font-size:12px}
.failures{max-height:440px;overflow:auto;border:1px solid #dadce0;border-radius:6px;margin:0;padding:6px 8px 6px 48px}.failures li{margin:4px 0}.failures li[data-job]{cursor:pointer}
.controls{display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin:8px 0}.controls input{width:22ch}.pager button{margin:0 2px}.pager span{margin:0 6px}
`;

/**
 * Renders the job table from the embedded data (`#report-data`): 100 rows a page, a status filter, a search by
 * job name, and sorting by any column but the logs (click a header; again to reverse). Clicking a job's bar or
 * failure elsewhere on the page searches the table for it. Sets `data-ready` on the table once it shows rows.
 */
export const REPORT_SCRIPT = String.raw`(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var D = JSON.parse($('report-data').textContent);
  var table = $('jobs');
  var tbody = table.tBodies[0];
  var n = D.name.length;
  var PAGE_SIZE = 100;
  var COLORS = { succeeded: '#2e9d5b', failed: '#d64541', cancelled: '#9aa0a6' };
  var ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  function esc(v) { return String(v).replace(/[&<>"']/g, function (c) { return ESCAPES[c]; }); }
  function seconds(ms) { return (ms / 1000).toFixed(ms < 10000 ? 2 : 1); }
  function bytes(b) { return b >= 1073741824 ? (b / 1073741824).toFixed(2) + ' GiB' : b >= 1048576 ? (b / 1048576).toFixed(1) + ' MiB' : (b / 1024).toFixed(0) + ' KiB'; }
  function count(x) { return String(x).replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
  // Sort keys as the report has always sorted: numbers before text, text without case, absent values as ''.
  function keyOf(raw) { var s = raw == null ? '' : String(raw); var x = Number(s); return s !== '' && !isNaN(x) ? x : s.toLowerCase(); }
  function numberKey(v) { return v == null ? '' : v; }
  function td(html, cls) { return (cls ? '<td class="' + cls + '">' : '<td>') + html + '</td>'; }

  var codeOf = new Int32Array(n).fill(-1);
  var messageOf = new Int32Array(n).fill(-1);
  D.errors.forEach(function (e) { codeOf[e[0]] = e[1]; messageOf[e[0]] = e[2]; });
  var folders = new Map(D.folders);
  function folder(i) { return folders.has(i) ? folders.get(i) : 'job_' + D.name[i]; }
  function link(dir, file) {
    var href = (dir === '' ? '' : dir.split('/').map(encodeURIComponent).join('/') + '/') + file;
    return '<a href="' + esc(href) + '">' + file + '</a>';
  }
  function statusOf(i) { return D.statuses[D.status[i]]; }
  function messageAt(i) { return messageOf[i] < 0 ? '' : D.messages[messageOf[i]]; }
  var manyEngines = D.engines.length > 1;

  var COLUMNS = {
    name: { key: function (i) { return keyOf(D.name[i]); }, cell: function (i) { return td(esc(D.name[i])); } },
    status: { key: function (i) { return statusOf(i); }, cell: function (i) { var s = statusOf(i); return td('<span class="dot" style="background:' + (COLORS[s] || '#9aa0a6') + '"></span>' + esc(s)); } },
    exit: { key: function (i) { return numberKey(D.exit[i]); }, cell: function (i) { return td(D.exit[i] == null ? '–' : D.exit[i]); } },
    attempts: { key: function (i) { return numberKey(D.attempts[i]); }, cell: function (i) { return td(D.attempts[i] == null ? '–' : D.attempts[i]); } },
    duration: { key: function (i) { return numberKey(D.duration[i]); }, cell: function (i) { return td(D.duration[i] == null ? '–' : seconds(D.duration[i])); } },
    cpu: { key: function (i) { return numberKey(D.cpu[i]); }, cell: function (i) { return td(D.cpu[i] == null ? '–' : seconds(D.cpu[i])); } },
    memory: {
      key: function (i) { return numberKey(D.memory[i]); },
      cell: function (i) { return td((D.memory[i] == null ? '–' : bytes(D.memory[i])) + (D.memoryLimit[i] == null ? '' : ' / ' + bytes(D.memoryLimit[i]))); },
    },
    started: { key: function (i) { return numberKey(D.started[i]); }, cell: function (i) { return td(D.started[i] == null ? '–' : new Date(D.t0 + D.started[i]).toISOString()); } },
    worker: {
      key: function (i) { return numberKey(D.slot[i]); },
      cell: function (i) { return td((D.slot[i] == null ? '–' : D.slot[i] + 1) + (manyEngines && D.engine[i] != null ? ' · ' + esc(D.engines[D.engine[i]]) : '')); },
    },
    run: { key: function (i) { return keyOf(D.runs[D.run[i]]); }, cell: function (i) { return td('<code>' + esc(D.runs[D.run[i]]) + '</code>'); } },
    logs: { key: null, cell: function (i) { var f = folder(i); return td(f == null ? '' : link(f, 'log.txt') + ' ' + link(f, 'stdout.log') + ' ' + link(f, 'stderr.log')); } },
    error: { key: function (i) { return keyOf(messageAt(i)); }, cell: function (i) { return td(esc(messageAt(i)), 'muted error'); } },
  };
  D.params.forEach(function (name, k) {
    var values = D.p[k];
    COLUMNS['p' + k] = { key: function (i) { return keyOf(values[i]); }, cell: function (i) { return td(esc(values[i] == null ? '' : values[i])); } };
  });
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var shown = headers.map(function (th) { return COLUMNS[th.getAttribute('data-key')] || { key: null, cell: function () { return '<td></td>'; } }; });

  var statusFilter = $('status-filter');
  var search = $('job-search');
  var order = null; // job indexes in the chosen order; null: the manifest's
  var view = new Int32Array(0);
  var page = 0;
  var lowerNames = null;

  function render() {
    var pages = Math.max(1, Math.ceil(view.length / PAGE_SIZE));
    page = Math.min(Math.max(page, 0), pages - 1);
    var start = page * PAGE_SIZE;
    var end = Math.min(view.length, start + PAGE_SIZE);
    var rows = [];
    for (var k = start; k < end; k++) {
      var i = view[k];
      var cells = '';
      for (var c = 0; c < shown.length; c++) cells += shown[c].cell(i);
      rows.push('<tr class="status-' + esc(statusOf(i)) + '" data-index="' + i + '">' + cells + '</tr>');
    }
    tbody.innerHTML = rows.join('');
    $('table-status').textContent = view.length === 0 ? 'No job matches.' : 'Jobs ' + count(start + 1) + '–' + count(end) + ' of ' + count(view.length) + (view.length === n ? '' : ' matching (' + count(n) + ' in all)');
    $('page-label').textContent = 'page ' + count(page + 1) + ' of ' + count(pages);
    $('first-page').disabled = $('prev-page').disabled = page === 0;
    $('next-page').disabled = $('last-page').disabled = page >= pages - 1;
    table.setAttribute('data-ready', 'true');
  }

  function filter() {
    var wanted = statusFilter.value;
    var status = wanted === '' ? -1 : D.statuses.indexOf(wanted);
    var query = search.value.trim().toLowerCase();
    if (query !== '' && lowerNames === null) lowerNames = D.name.map(function (s) { return s.toLowerCase(); });
    var out = new Int32Array(n);
    var m = 0;
    for (var k = 0; k < n; k++) {
      var i = order === null ? k : order[k];
      if (status >= 0 && D.status[i] !== status) continue;
      if (query !== '' && lowerNames[i].indexOf(query) < 0) continue;
      out[m++] = i;
    }
    view = out.subarray(0, m);
    page = 0;
    render();
  }

  headers.forEach(function (th, column) {
    var key = shown[column].key;
    if (!key) return;
    th.classList.add('sortable');
    th.tabIndex = 0;
    function sort() {
      var ascending = th.getAttribute('aria-sort') !== 'ascending';
      headers.forEach(function (other) { other.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
      var keys = new Array(n);
      var indexes = new Array(n);
      for (var i = 0; i < n; i++) { keys[i] = key(i); indexes[i] = i; }
      indexes.sort(function (a, b) {
        var x = keys[a], y = keys[b];
        var o = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : typeof x === 'number' ? -1 : 1;
        return (ascending ? o : -o) || a - b;
      });
      order = Int32Array.from(indexes);
      filter();
    }
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (event) { if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); sort(); } });
  });
  statusFilter.addEventListener('change', filter);
  search.addEventListener('input', filter);
  $('first-page').addEventListener('click', function () { page = 0; render(); });
  $('prev-page').addEventListener('click', function () { page -= 1; render(); });
  $('next-page').addEventListener('click', function () { page += 1; render(); });
  $('last-page').addEventListener('click', function () { page = Number.MAX_SAFE_INTEGER; render(); });
  document.addEventListener('click', function (event) {
    var target = event.target.closest ? event.target.closest('[data-job]') : null;
    if (!target || table.contains(target)) return;
    search.value = target.getAttribute('data-job');
    statusFilter.value = '';
    filter();
    document.querySelector('.controls').scrollIntoView({ block: 'start' });
  });
  filter();
})();`;
