#!/usr/bin/env bash
# Re-extract every msgid from core/, bot/, cli/ and web/ (its Python and its templates) into the template, then merge it into the
# en and bn catalogues (new ids arrive untranslated; the catalogue test lists them).
set -e
cd "$(dirname "$0")/.."
.venv/bin/pybabel extract -F babel.cfg -k N_ -k _ -k gettext -k ngettext:1,2 --no-location --sort-output --project=Intrex --copyright-holder=Intrex -o core/i18n/locales/messages.pot .
for l in en bn; do
  if [ -f core/i18n/locales/$l/LC_MESSAGES/messages.po ]; then
    .venv/bin/pybabel update --no-fuzzy-matching --ignore-obsolete -i core/i18n/locales/messages.pot -d core/i18n/locales -l $l
  else
    .venv/bin/pybabel init -i core/i18n/locales/messages.pot -d core/i18n/locales -l $l
  fi
done
