#!/usr/bin/env bash
# Builds a reveal.js slide deck of each notebook (or of those named) that works with no
# network: reveal.js, MathJax, jQuery and require.js are loaded from slides/vendor/ (installed
# by install.sh, or by `bash slides/install-vendor.sh slides/vendor --slim`), through the
# template in slides/templates/reveal-offline. The decks are written to slides/, beside
# vendor/: copy or serve that folder as a whole.
#   bash notebooks/slides.sh                      # every notebook
#   bash notebooks/slides.sh 01-softmax-formulas.ipynb
#   OUT=/some/dir bash notebooks/slides.sh        # decks elsewhere (vendor/ is linked there)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$here/slides}
vendor=$here/slides/vendor
[ -d "$vendor/node_modules/reveal.js" ] || bash "$here/slides/install-vendor.sh" "$vendor" --slim
mkdir -p "$out"
[ -e "$out/vendor" ] || ln -s "$vendor" "$out/vendor"
V=vendor/node_modules
cd "$here"
notebooks=("$@")
[ ${#notebooks[@]} -gt 0 ] || notebooks=([0-9][0-9]-*.ipynb)
jupyter nbconvert --to slides --output-dir "$out" \
    --TemplateExporter.extra_template_basedirs="$here/slides/templates" --template reveal-offline \
    --SlidesExporter.reveal_url_prefix=$V/reveal.js --SlidesExporter.reveal_theme=white \
    --SlidesExporter.reveal_width=1280 --SlidesExporter.reveal_height=720 \
    "--SlidesExporter.mathjax_url=$V/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe" \
    --SlidesExporter.require_js_url=$V/requirejs/require.js \
    --SlidesExporter.jquery_url=$V/jquery/dist/jquery.min.js "${notebooks[@]}"
