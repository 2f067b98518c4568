from django.contrib import admin
from django.urls import include, path

from portal import connect_views, views
from portal.accounts import urls as accounts_urls
from portal.webhooks import feed_views, receiver

# The connect page needs the accounts app and the directory, and accounts may not import the
# directory: it is routed here, among the accounts pages (portal/connect_views.py says why).
accounts = (
    [*accounts_urls.urlpatterns, path("connect", connect_views.connect, name="connect")],
    accounts_urls.app_name,
)

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("accounts/", include(accounts)),
    path("audit/", include("portal.audit.urls")),
    path("members/", include("portal.directory.urls")),
    path("links/", include("portal.links.urls")),
    path("jobs/", include("portal.jobs.urls")),
    path("data-deletion/", include("portal.directory.compliance_urls")),
    path("webhooks/", include("portal.webhooks.urls")),
    path("meetings/", include("portal.meetings.urls")),
    path("groups/", include("portal.directory.groups_urls")),
    path("seats/", include("portal.directory.seats_urls")),
    path("activity/", include("portal.activity.urls")),
    # Calendly's deliveries. No trailing slash, and nothing that redirects: Calendly counts a
    # redirect as a failed delivery. The token names the receiving address (and its key).
    path("hooks/calendly", receiver.receive, name="webhook_receiver"),
    path("hooks/calendly/<str:token>", receiver.receive, name="webhook_receiver"),
    # Team calendar feeds, fetched by calendar apps with the secret in the URL.
    *feed_views.public_urls,
    path("django-admin/", admin.site.urls),
]
