#!/usr/bin/env bash
# Puts local copies of what nbconvert's reveal.js slide decks load into DEST/node_modules/,
# from the npm registry, so that decks built with the matching options work with no network:
#   reveal.js 4.0.2 (the version nbconvert 7.17's reveal template defaults to: dist/ + plugin/notes/),
#   MathJax 2.7.9 (the template's MathJax config is MathJax 2 API), jQuery 3.7.1, require.js 2.3.7.
# usage: install-vendor.sh DEST [--slim]
#   --slim  deletes what the decks never load (source maps, other MathJax outputs and fonts,
#           unpacked sources, ...): about 11 MB on disk instead of about 81 MB.
# Safe to rerun: npm runs only when a package is missing or at another version.
set -euo pipefail

PKGS=(reveal.js@4.0.2 mathjax@2.7.9 jquery@3.7.1 requirejs@2.3.7)
dest=${1:?usage: install-vendor.sh DEST [--slim]}
slim=${2:-}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

missing=0
for p in "${PKGS[@]}"; do
    name=${p%@*} want=${p##*@}
    have=$(node -p 'require(process.argv[1]).version' "$dest/node_modules/$name/package.json" 2>/dev/null || true)
    [ "$have" = "$want" ] || missing=1
done
if [ "$missing" = 1 ]; then
    # all four every time: npm prunes packages that DEST/package.json does not list
    npm install --prefix "$dest" --save-exact --ignore-scripts --no-audit --no-fund --loglevel=error "${PKGS[@]}"
fi

if [ "$slim" = --slim ]; then
    m=$dest/node_modules/mathjax
    rm -rf "$m"/unpacked "$m"/test \
        "$m"/fonts/HTML-CSS/{Asana-Math,Gyre-Pagella,Gyre-Termes,Latin-Modern,Neo-Euler,STIX-Web} \
        "$m"/fonts/HTML-CSS/TeX/{eot,otf,svg,png} \
        "$m"/jax/output/{HTML-CSS,SVG,NativeMML,PlainSource,PreviewHTML}
    # keep only the configuration the decks name: MathJax.js?config=TeX-AMS_CHTML-full,Safe
    find "$m"/config -maxdepth 1 -type f ! -name TeX-AMS_CHTML-full.js ! -name Safe.js -delete
    r=$dest/node_modules/reveal.js
    find "$r" -name '*.map' -delete
    rm -rf "$r"/dist/reveal.esm.js "$r"/demo.html "$r"/index.html \
        "$r"/plugin/{highlight,markdown,math,search,zoom}
    rm -rf "$dest"/node_modules/jquery/src "$dest"/node_modules/jquery/dist/jquery.js \
        "$dest"/node_modules/jquery/dist/jquery.slim* "$dest"/node_modules/requirejs/bin
fi
echo "vendor files in $dest/node_modules ($(du -sh "$dest/node_modules" | cut -f1))"
