"""The portal's URLs plus the floor bench/webhook_receiver.py measures the receiver against: a
view that only keeps the raw body, in one transaction, behind the same server and middleware.

It sits under /hooks/ like the receiver, so production's redirect rules treat both alike."""

from django.contrib.auth.decorators import login_not_required
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from portal.urls import urlpatterns as portal_urlpatterns

FLOOR_PATH = "hooks/bench-floor"
FLOOR_TABLE = "bench_webhook_floor"
CREATE_FLOOR_TABLE = f"""
CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (
    id bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    body bytea NOT NULL
)"""


@csrf_exempt
@login_not_required
@require_POST
def floor(request: HttpRequest) -> HttpResponse:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {FLOOR_TABLE} (body) VALUES (%s) RETURNING id",  # noqa: S608
            [request.body],
        )
        (row,) = cursor.fetchone()
    return JsonResponse({"stored": True, "delivery": row}, status=202)


urlpatterns = [path(FLOOR_PATH, floor), *portal_urlpatterns]
