#!/usr/bin/env python
import os
import sys


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        print(f"manage.py: configuration error: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        # Not a traceback: what is unreachable and which setting names it.
        from django.conf import settings

        db = settings.DATABASES["default"]
        where = db["NAME"] if db["ENGINE"].endswith("sqlite3") else f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}"
        reason = " ".join(str(exc).split())
        print(f"manage.py: cannot use the database at {where} (DATABASE_URL): {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
