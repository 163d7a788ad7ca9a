"""Audit reports: scheduled runs, their stored content, formats and deliveries.

``sarif`` is pure (no Django): ``netaudit audit --format sarif`` uses it too. The rest
work on the models: ``content`` builds a report's JSON from the database; ``services``
keeps schedules on beat, builds reports and delivers them; ``selectors`` reads;
``html``, ``pdf`` and ``exports`` (JSON, CSV, SARIF) render the stored JSON; ``delivery``
sends email and webhooks; ``forms`` is the schedule form of the page and the admin.
See docs/reports.md.
"""
