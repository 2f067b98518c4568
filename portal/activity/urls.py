from portal.activity import log_views, routing_views

app_name = "activity"
urlpatterns = [*log_views.urls, *routing_views.urls]
