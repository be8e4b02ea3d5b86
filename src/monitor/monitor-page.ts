/**
 * The monitor's page: one self-contained HTML document (inline style and script, nothing from the network).
 * It follows /events (server-sent snapshots, at most two a second) and fetches a job's log tail on click; the
 * token comes from the page's own URL.
 */
export const MONITOR_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>docker-sim-manager monitor</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:20px;color:#202124}
h1{font-size:19px;margin:0 0 4px}h2{font-size:15px;margin:22px 0 6px}.muted{color:#5f6368}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}.card{border:1px solid #dadce0;border-radius:8px;padding:8px 12px;min-width:90px}
.card b{display:block;font-size:20px}.bar{height:10px;background:#e8eaed;border-radius:5px;overflow:hidden;max-width:900px}
.bar span{display:block;height:100%;background:#2e9d5b}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #e8eaed;padding:4px 8px;text-align:left;vertical-align:top;font-size:13px}
tr.job{cursor:pointer}tr.job:hover{background:#f1f3f4}.failed{color:#d64541}.error{white-space:pre-wrap;font-size:12px}
svg{border:1px solid #dadce0;border-radius:6px;background:#fafafa}pre{background:#202124;color:#e8eaed;padding:10px;max-height:360px;overflow:auto;font-size:12px}
</style></head><body>
<h1>docker-sim-manager <span class="muted" id="run"></span></h1>
<div class="muted" id="state">connecting…</div>
<div class="cards" id="cards"></div>
<div class="bar"><span id="progress" style="width:0"></span></div>
<h2>Running</h2><table><thead><tr><th>job</th><th>attempt</th><th>engine</th><th>running for</th></tr></thead><tbody id="running"></tbody></table>
<h2>Failures</h2><table><thead><tr><th>job</th><th>exit</th><th>error</th></tr></thead><tbody id="failures"></tbody></table>
<h2>Timeline</h2><svg id="timeline" viewBox="0 0 1000 120" width="100%" role="img" aria-label="Timeline of recent jobs"></svg>
<h2>Recently finished</h2><table><thead><tr><th>job</th><th>status</th><th>duration (s)</th><th>CPU (s)</th><th>peak memory (MiB)</th><th>limit (MiB)</th></tr></thead><tbody id="recent"></tbody></table>
<h2>Log <span class="muted" id="log-name">(click a job)</span></h2><pre id="log"></pre>
<script>
(function () {
  var token = new URLSearchParams(location.search).get('token') || '';
  var q = '?token=' + encodeURIComponent(token);
  var $ = function (id) { return document.getElementById(id); };
  var esc = function (v) { return String(v == null ? '' : v).replace(/[&<>"']/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]; }); };
  var mib = function (b) { return b == null ? '–' : (b / 1048576).toFixed(1); };
  var secs = function (ms) { return ms == null ? '–' : (ms / 1000).toFixed(1); };
  function row(job, cells) { return '<tr class="job" data-job="' + esc(job.name) + '">' + cells.map(function (c) { return '<td>' + c + '</td>'; }).join('') + '</tr>'; }
  function render(s) {
    var c = s.counts, done = c.succeeded + c.failed + c.cancelled + c.skipped;
    $('run').textContent = s.runId ? 'run ' + s.runId : '';
    $('state').textContent = s.finishedAt ? 'finished' + (s.stopReason ? ' (' + s.stopReason + ')' : '') : s.runId ? 'running' + (s.etaSeconds != null ? ', about ' + s.etaSeconds + ' s left' : '') : 'waiting for the run to start';
    $('cards').innerHTML = ['total', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'skipped'].map(function (k) { return '<div class="card" id="count-' + k + '"><b>' + c[k] + '</b>' + k + '</div>'; }).join('') + '<div class="card"><b>' + s.retries + '</b>retries</div>';
    $('progress').style.width = (c.total ? (100 * done) / c.total : 0) + '%';
    $('running').innerHTML = s.running.map(function (j) { return row(j, [esc(j.name), j.attempt, esc(j.engine), secs(s.now - j.startedAt)]); }).join('');
    $('failures').innerHTML = s.failures.map(function (j) { return row(j, [esc(j.name), j.exitCode == null ? '–' : j.exitCode, '<span class="error failed">' + esc(j.error) + '</span>']); }).join('');
    $('recent').innerHTML = s.recent.slice(0, 100).map(function (j) { return row(j, [esc(j.name), j.status, secs(j.finishedAt - j.startedAt), secs(j.cpuMs), mib(j.peakMemoryBytes), mib(j.memoryLimitBytes)]); }).join('');
    var bars = s.running.concat(s.recent).filter(function (j) { return j.startedAt != null; }).slice(0, 200);
    var t0 = Math.min.apply(null, bars.map(function (j) { return j.startedAt; }).concat([s.now])), span = Math.max(s.now - t0, 1), h = 118 / Math.max(bars.length, 1);
    var colors = { running: '#4a7fd6', succeeded: '#2e9d5b', failed: '#d64541', cancelled: '#9aa0a6' };
    $('timeline').innerHTML = bars.map(function (j, i) { var x = (1000 * (j.startedAt - t0)) / span, w = Math.max((1000 * ((j.finishedAt || s.now) - j.startedAt)) / span, 2); return '<rect x="' + x.toFixed(1) + '" y="' + (1 + i * h).toFixed(1) + '" width="' + w.toFixed(1) + '" height="' + Math.max(h - 1, 1).toFixed(1) + '" fill="' + colors[j.status] + '"><title>' + esc(j.name + ': ' + j.status) + '</title></rect>'; }).join('');
  }
  document.body.addEventListener('click', function (event) {
    var tr = event.target.closest('tr.job');
    if (!tr) return;
    var name = tr.getAttribute('data-job');
    $('log-name').textContent = name;
    fetch('logs' + q + '&job=' + encodeURIComponent(name)).then(function (r) { return r.text(); }).then(function (text) { $('log').textContent = text; });
  });
  var last = null;
  var source = new EventSource('events' + q);
  source.addEventListener('snapshot', function (event) { last = JSON.parse(event.data); render(last); });
  source.onerror = function () {
    // The final state stays on the page once the run's process has ended.
    if (last && last.finishedAt) { source.close(); $('state').textContent += ' (the run\\'s process has ended)'; }
    else $('state').textContent = 'disconnected (the run\\'s process may have ended); retrying…';
  };
})();
</script>
</body></html>
`;
