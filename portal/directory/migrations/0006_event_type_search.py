"""The link directory's search column and its order (rep, then event) as an index.

`EventType.search_text` is written by the database's triggers, installed by migration 0008:
after 0007, whose rebuild of the event type table on SQLite they would stop (0008 says why).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_user_timezone"),
        ("directory", "0005_member_search_trigrams"),
    ]

    operations = [
        migrations.AddField(
            model_name="eventtype",
            name="search_text",
            field=models.TextField(default="", editable=False),
        ),
        migrations.AddIndex(
            model_name="eventtype",
            index=models.Index(
                condition=models.Q(("active", True), ("removed_at__isnull", True)),
                fields=["organization", "profile_name", "profile_owner_uri"],
                name="active_type_by_owner",
            ),
        ),
    ]
