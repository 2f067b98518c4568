from django.urls import path

from portal.directory import deletion_views

app_name = "compliance"

urlpatterns = [
    path("", deletion_views.data_deletion, name="deletion"),
    path("<int:pk>/evidence.csv", deletion_views.evidence, name="evidence"),
]
