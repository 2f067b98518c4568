from portal.directory import groups_views

app_name = "groups"
urlpatterns = groups_views.urls
