from django.urls import path

from portal.links import directory_views, share_views, views

app_name = "links"

urlpatterns = [
    path("", directory_views.directory, name="directory"),
    path("export.csv", directory_views.export, name="directory_export"),
    path("new", views.new_link, name="new"),
    path("bulk", share_views.bulk_links, name="bulk"),
    path("ledger", views.ledger, name="ledger"),
    path("ledger/export.csv", views.ledger_export, name="ledger_export"),
    path("ledger/<int:pk>", views.entry, name="entry"),
    path("shares/new", share_views.new_share, name="share_new"),
    path("shares/<int:pk>/edit", share_views.edit_share, name="share_edit"),
    path("shares/<int:pk>/delete", share_views.delete_share, name="share_delete"),
    path("shares/refresh", share_views.refresh_shares, name="shares_refresh"),
]
