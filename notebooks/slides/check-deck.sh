#!/usr/bin/env bash
# Opens a reveal.js deck made by `jupyter nbconvert --to slides` in headless Chromium with the
# network blocked and fails unless it works offline:
#   - nothing failed to load and nothing was requested from the network;
#   - MathJax typeset the formulas (no raw $...\cmd...$ TeX left, no TeX errors);
#   - reveal.js laid out the slides (.reveal.ready, a section.present);
#   - no slide is wider or taller than the slide (1280x720), and no code block wider than it
#     (STRICT_HEIGHT=0 only reports slides that are too tall);
#   - every figure's smallest text is at least MIN_TEXT_PX (14) pixels high as shown on the
#     slide: its `data-font-px` (the smallest font in the image's own pixels, written by
#     sphereface-core's Figure::html) times the width it is shown at over its pixel width;
#   - every image has a description (`alt`, not nbconvert's "No description" filler);
#   - headings keep their case (the theme's upper-casing turns ψ(θ) into Ψ(Θ));
#   - every typeset formula keeps MathJax's MathML copy for screen readers, out of sight
#     (not drawn a second time beside the formula, not display: none).
# It prints one line per figure (slide, shown size, smallest text on the slide) and the
# figure slide with the most figure area ("densest"), the one worth a screenshot.
# usage: check-deck.sh DECK.slides.html [SCREENSHOT.png [SLIDE]]   (SLIDE: reveal index, e.g. 2
#        or 3/1, or "densest")
# env: CHROMIUM (default: chromium, chromium-browser or google-chrome), BUDGET_MS (default 10000),
#      WINDOW (default 1280,720), STRICT_HEIGHT (default 1), MIN_TEXT_PX (default 14).
# Needs Chromium and perl. Writes nothing beside the deck: the probe runs on a copy in a temp dir.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: check-deck.sh DECK.slides.html [SCREENSHOT.png [SLIDE]]" >&2; exit 2; }
deck=$1
shot=${2:-}
slide=${3:-0}
budget=${BUDGET_MS:-10000}
min_text=${MIN_TEXT_PX:-14}
window=${WINDOW:-1280,720}
[ -f "$deck" ] || { echo "check-deck: no such file: $deck" >&2; exit 2; }
chrome=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
[ -n "$chrome" ] || { echo "check-deck: Chromium not found (apt-get install chromium, or set CHROMIUM)" >&2; exit 2; }

dir=$(cd "$(dirname "$deck")" && pwd)
file=$(basename "$deck")
url_of() { local p=${1//%/%25}; p=${p// /%20}; p=${p//\#/%23}; p=${p//\?/%3F}; echo "file://$p"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Headless, offline: every host name resolves to nothing, and any proxied request goes nowhere.
run_chrome() {
    timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update --disable-sync \
        --host-resolver-rules="MAP * ~NOTFOUND" --proxy-server=127.0.0.1:9 \
        --user-data-dir="$tmp/profile-$1" --virtual-time-budget="$budget" --window-size="$window" \
        "${@:2}" 2>>"$tmp/chrome.log"
}

# The probe: records failed loads, JS errors, network requests, web-font errors, and (once
# reveal.js is ready and MathJax idle) code blocks wider and sections taller than the slide.
cat > "$tmp/probe.js" <<'EOF'
(function () {
  var lines = [], measured = null, MIN_TEXT = parseFloat(document.currentScript.getAttribute('data-min-text'));
  function one(s) { return String(s).replace(/\s+/g, ' ').slice(0, 160); }
  window.addEventListener('error', function (e) {
    var t = e.target;
    if (t && t !== window && t.tagName) lines.push('FAILED ' + t.tagName + ' ' + one(t.src || t.href || t.outerHTML));
    else lines.push('JSERROR ' + one(e.message || e));
  }, true);
  window.addEventListener('unhandledrejection', function (e) { lines.push('JSERROR ' + one(e.reason && e.reason.message || e.reason)); });
  function mathjaxIdle() {
    var H = window.MathJax && window.MathJax.Hub;
    return !H || (window.MathJax.isReady && H.queue.pending === 0 && !H.queue.running);
  }
  function measure() {
    var out = [], slides = document.querySelector('.reveal .slides'), h = slides.offsetHeight;
    var st = document.createElement('style');
    st.textContent = '.reveal .slides section{display:block!important}';
    document.head.appendChild(st);
    document.querySelectorAll('.reveal .slides > section').forEach(function (top, i) {
      var subs = top.querySelectorAll(':scope > section');
      (subs.length ? Array.prototype.slice.call(subs) : [top]).forEach(function (s, j) {
        var title = s.querySelector('h1, h2, h3, h4');
        s.querySelectorAll('pre').forEach(function (p) {
          if (p.scrollWidth > p.clientWidth + 1) out.push('WIDE code on slide #/' + i + '/' + j + ': ' + one(p.textContent.split('\n')[0]).slice(0, 70));
        });
        s.querySelectorAll('h1, h2, h3, h4, h5, h6').forEach(function (h) {
          var tt = getComputedStyle(h).textTransform;
          if (tt !== 'none') out.push('CASE heading on slide #/' + i + '/' + j + ' is set with text-transform ' + tt + ': ' + one(h.textContent.replace(/\u00b6/g, '')).slice(0, 60));
        });
        s.querySelectorAll('img').forEach(function (img) {
          var where = 'slide #/' + i + '/' + j, alt = img.getAttribute('alt');
          if (!alt || !alt.trim() || /^No description/.test(alt)) out.push('NOALT image on ' + where + ' (' + img.naturalWidth + 'x' + img.naturalHeight + ' px)');
          var f = parseFloat(img.getAttribute('data-font-px')), w = img.offsetWidth, h = img.offsetHeight;
          if (!(f > 0)) { out.push('NOFONTPX image on ' + where + ': no data-font-px, so its text size cannot be measured'); return; }
          var shown = f * w / img.naturalWidth;
          out.push('IMG ' + where + ' shown ' + w + 'x' + h + ' of ' + img.naturalWidth + 'x' + img.naturalHeight + ' px, smallest text ' + shown.toFixed(1) + ' px');
          if (shown < MIN_TEXT) out.push('SMALLTEXT on ' + where + ': the figure (' + one(alt || '').slice(0, 50) + ') is shown ' + w + ' px wide, so its smallest text (' + f + ' px in the image) is ' + shown.toFixed(1) + ' px on the slide');
        });
        s.querySelectorAll('.MathJax_CHTML, .MathJax').forEach(function (m) {
          var a = m.querySelector('.MJX_Assistive_MathML');
          if (!a) { out.push('MATHA11Y formula on slide #/' + i + '/' + j + ' has no MathML copy for screen readers'); return; }
          var r = a.getBoundingClientRect(), st = getComputedStyle(a);
          if (st.display === 'none' || st.visibility === 'hidden') out.push('MATHA11Y formula on slide #/' + i + '/' + j + ': its MathML copy is hidden from screen readers too (display ' + st.display + ')');
          else if (r.width > 2 && r.height > 2 && st.clip === 'auto' && st.clipPath === 'none') out.push('MATHA11Y formula on slide #/' + i + '/' + j + ' is shown twice: its MathML copy is drawn ' + Math.round(r.width) + 'x' + Math.round(r.height) + ' px');
        });
        if (s.scrollWidth > s.clientWidth + 1) out.push('WIDE slide #/' + i + '/' + j + ' is ' + s.scrollWidth + 'px wide, the slide ' + s.clientWidth + 'px');
        if (s.scrollHeight > h + 1) out.push('TALL slide #/' + i + '/' + j + ' is ' + s.scrollHeight + 'px high, the slide ' + h + 'px: ' + one(title ? title.textContent.replace(/\u00b6/g, '') : s.textContent).slice(0, 60));
      });
    });
    st.remove();
    return out;
  }
  function report() {
    var out = lines.slice();
    performance.getEntriesByType('resource').forEach(function (r) {
      if (!/^(file|data|blob):/.test(r.name)) out.push('NETWORK ' + one(r.name));
    });
    if (document.fonts) document.fonts.forEach(function (f) {
      // MathJax CHTML tries local() fonts first (MJXc-...-R, -Rx) and falls back to its web fonts (-Rw)
      if (f.status === 'error' && !/^MJXc-.*[^w]$/.test(f.family)) out.push('FONT ' + f.family);
    });
    if (document.querySelector('.reveal.ready')) out.push('REVEAL ready');
    if (window.MathJax && window.MathJax.version) out.push('MATHJAX ' + window.MathJax.version + (mathjaxIdle() ? ' idle' : ' busy'));
    if (!measured && document.querySelector('.reveal.ready') && mathjaxIdle()) measured = measure();
    if (measured) out = out.concat(measured, ['MEASURED']);
    var pre = document.getElementById('deck-probe');
    if (!pre) { pre = document.createElement('pre'); pre.id = 'deck-probe'; pre.style.display = 'none'; document.documentElement.appendChild(pre); }
    pre.textContent = '\n' + out.join('\n') + '\n';
  }
  setInterval(report, 250);
})();
EOF

# A copy of the deck in $tmp whose <base> points at the deck's folder, so relative paths still work.
perl -pe 'BEGIN { $ins = shift } s/<head>/<head>$ins/ && ($done = 1) unless $done' \
    "<base href=\"$(url_of "$dir")/\"><script data-min-text=\"$min_text\" src=\"$(url_of "$tmp/probe.js")\"></script>" \
    "$deck" > "$tmp/probed.html"
grep -q 'id="deck-probe"\|probe.js' "$tmp/probed.html" || { echo "check-deck: no <head> in $deck" >&2; exit 2; }

if ! run_chrome dom --dump-dom "$(url_of "$tmp/probed.html")" > "$tmp/dom.html" || [ ! -s "$tmp/dom.html" ]; then
    echo "check-deck: Chromium failed; its log:" >&2; tail -20 "$tmp/chrome.log" >&2; exit 2
fi
perl -0ne 'if (/<pre id="deck-probe"[^>]*>(.*?)<\/pre>/s) { $_ = $1; s/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&amp;/&/g; print }' \
    "$tmp/dom.html" > "$tmp/probe.txt"

problems=()
fail() { problems+=("$1"); }
while IFS= read -r l; do
    case $l in
        FAILED\ LINK*) fail "stylesheet did not load, or an @import in it failed: ${l#FAILED LINK }" ;;
        FAILED*) fail "did not load: ${l#FAILED }" ;;
        NETWORK*) fail "requested from the network: ${l#NETWORK }" ;;
        JSERROR*) fail "JavaScript error: ${l#JSERROR }" ;;
        FONT*) fail "web font failed: ${l#FONT }" ;;
        WIDE*) fail "wider than the slide (cut off at the right): ${l#WIDE }" ;;
        TALL*) if [ "${STRICT_HEIGHT:-1}" = 1 ]; then fail "slide taller than the slide height: ${l#TALL }"; else echo "check-deck: warning: ${l#TALL }"; fi ;;
        CASE*) fail "heading changed by the theme: ${l#CASE }" ;;
        MATHA11Y*) fail "formula for screen readers: ${l#MATHA11Y }" ;;
        NOALT*) fail "no description (alt text): ${l#NOALT }" ;;
        NOFONTPX*) fail "${l#NOFONTPX }" ;;
        SMALLTEXT*) fail "figure text too small to read (under $min_text px): ${l#SMALLTEXT }" ;;
        IMG*) echo "check-deck: ${l#IMG }" ;;
    esac
done < "$tmp/probe.txt"

# Formulas: a $ or $$ followed by a TeX command in the same text node, outside scripts, styles
# and <pre> (code and outputs), is math that MathJax did not typeset.
strip() { perl -0pe 's/<(script|style|pre)\b.*?<\/\1>//gs' "$1"; }
tex='\$\$?[^$<]{0,200}?\\[A-Za-z]+'
raw=$(strip "$tmp/dom.html" | grep -oP "$tex" | head -3 || true)
had=$(strip "$deck" | grep -cP "$tex" || true)
typeset=$( (grep -oE 'class="(mjx-chtml MathJax_CHTML|MathJax|MathJax_SVG)"|<mjx-container' "$tmp/dom.html" || true) | wc -l)
[ -z "$raw" ] || fail "raw TeX left in the page (MathJax did not typeset): $(echo $raw | cut -c1-120)"
[ "$had" = 0 ] || [ "$typeset" -gt 0 ] || fail "the deck has formulas but no MathJax output"
grep -qE 'class="(MathJax_Error|mjx-merror|mjx-noError|noError)"' "$tmp/dom.html" && fail "MathJax reports a TeX error in a formula (shown boxed or red)"
grep -q '^MATHJAX .* busy' "$tmp/probe.txt" && fail "MathJax still typesetting after ${budget} ms (raise BUDGET_MS)"

# Layout: reveal.js marks its root .ready and the current slide .present.
grep -qE '<div class="reveal [^"]*\bready\b' "$tmp/dom.html" || fail "reveal.js did not start (no .reveal.ready)"
grep -qE '<section[^>]*class="[^"]*\bpresent\b' "$tmp/dom.html" || fail "reveal.js laid out no slide (no section.present)"
grep -q '^MEASURED' "$tmp/probe.txt" || [ ${#problems[@]} -gt 0 ] || fail "the probe never measured the slides (raise BUDGET_MS)"

# The figure slide with the most figure area: the one to picture.
densest=$(perl -ne '$a{$1} += $2 * $3 if /^IMG slide #\/(\S+) shown (\d+)x(\d+)/; END { ($d) = sort { $a{$b} <=> $a{$a} || $a cmp $b } keys %a; print $d // "" }' "$tmp/probe.txt")
[ -z "$densest" ] || echo "check-deck: densest figure slide: #/$densest"
if [ "$slide" = densest ]; then slide=${densest:-0}; fi
if [ -n "$shot" ]; then
    run_chrome shot --screenshot="$(cd "$(dirname "$shot")" && pwd)/$(basename "$shot")" \
        "$(url_of "$dir/$file")#/$slide" > /dev/null || fail "screenshot failed"
fi

if [ ${#problems[@]} -gt 0 ]; then
    echo "check-deck: FAIL $deck" >&2
    printf '  - %s\n' "${problems[@]}" >&2
    exit 1
fi
echo "check-deck: OK $deck ($typeset typeset formulas, $(grep -o '<section' "$tmp/dom.html" | wc -l) sections, offline)"
