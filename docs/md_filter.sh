#!/bin/sh
# Doxygen INPUT_FILTER for the book's Markdown (docs/Doxyfile.in): links to a
# notebook (.ipynb) point, on the site, at its executed HTML rendering under
# html/notebooks/, which the docs target writes with nbconvert. On GitHub the
# README keeps linking the .ipynb, which GitHub renders itself.
exec sed -E 's#\((\.\./\.\./)?notebooks/([0-9A-Za-z_-]+)\.ipynb\)#(notebooks/\2.html)#g' "$1"
