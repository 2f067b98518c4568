from django.urls import path

from portal.directory import bulk_views, offboard_views, sync_views, views

app_name = "directory"

urlpatterns = [
    path("", views.members, name="members"),
    path("export.csv", views.export, name="export"),
    path("<int:pk>", views.member, name="member"),
    path("<int:pk>/remove", views.remove_member, name="remove"),
    path("<int:pk>/note-change", views.note_change, name="note_change"),
    path("<int:pk>/role", views.give_role, name="give_role"),
    path("invite", views.invite, name="invite"),
    path("invite/file", bulk_views.bulk_invite, name="bulk_invite"),
    path("offboard", offboard_views.offboard, name="offboard"),
    path("offboard/<int:pk>/calendly", offboard_views.in_calendly, name="offboard_calendly"),
    path("invitations/<int:pk>/revoke", views.revoke_invitation, name="revoke"),
    path("refresh", sync_views.refresh, name="refresh"),
    path("sync/<int:pk>", sync_views.sync_status, name="sync_status"),
]
