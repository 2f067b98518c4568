#!/usr/bin/env python
import os
import sys


def main() -> None:
    if sys.version_info < (3, 12):  # noqa: UP036 (people run this with an older python3)
        sys.exit(
            "The portal needs Python 3.12 or newer (Django 6.1); run scripts/demo or scripts/test."
        )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
