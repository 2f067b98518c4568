from portal.meetings import availability_views, meeting_views

app_name = "meetings"
urlpatterns = [*meeting_views.urls, *availability_views.urls]
