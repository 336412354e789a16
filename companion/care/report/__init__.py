"""The caregiver's report: a printable page and a CSV of one person's recent days.

``companion report --user NAME --html FILE [--csv FILE]`` (:mod:`companion.cli.report`)
shows a caregiver or physiotherapist what was done and said in the sessions:
exercises done each day against their daily targets, a pain chart, red flags
and stopped exercises, and the McKenzie stage with what is next.

* :mod:`.collect`: reads the store into :class:`~.collect.ReportData` (plain data, no HTML);
* :mod:`.html`: the self-contained HTML page, from the Jinja2 templates in ``templates/``;
* :mod:`.chart`: the pain chart as a PNG (matplotlib, imported only when a chart is drawn);
* :mod:`.csv`: one CSV row per event of interest;
* :mod:`.wording`: the report's words, from ``report.yaml`` in the language in use.

Nothing is re-exported here, so importing :mod:`.csv` stays cheap (no Jinja2,
no matplotlib): import from the module that does the work.
"""
