from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from portal.accounts.crypto import EncryptedTextField, rotate
from portal.accounts.models import Connection


class Command(BaseCommand):
    help = (
        "Re-encrypt stored Calendly tokens under the first key of FIELD_ENCRYPTION_KEY. Put the "
        "new key first, keep the old ones after it, run this, then drop the old keys."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        columns = [
            str(field.column)
            for field in Connection._meta.get_fields()
            if isinstance(field, EncryptedTextField)
        ]
        table = connection.ops.quote_name(Connection._meta.db_table)
        rotated = 0
        with transaction.atomic(), connection.cursor() as cursor:
            # Raw rows: the model would hand back plaintext, and rotation works on ciphertext.
            quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
            cursor.execute(f"SELECT id, {quoted} FROM {table}")  # noqa: S608 (names from the model)
            for row_id, *values in cursor.fetchall():
                updates = {
                    column: rotate(value)
                    for column, value in zip(columns, values, strict=True)
                    if value
                }
                if not updates:
                    continue
                assignments = ", ".join(f"{connection.ops.quote_name(c)} = %s" for c in updates)
                cursor.execute(
                    f"UPDATE {table} SET {assignments} WHERE id = %s",  # noqa: S608
                    [*updates.values(), row_id],
                )
                rotated += 1
        self.stdout.write(
            f"Re-encrypted the tokens of {rotated} connection(s) under the newest key."
        )
