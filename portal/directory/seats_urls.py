from portal.directory import seat_views

app_name = "seats"
urlpatterns = seat_views.urls
