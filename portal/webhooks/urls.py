from portal.webhooks import delivery_views, feed_views, subscription_views

app_name = "webhooks"
urlpatterns = [*subscription_views.urls, *delivery_views.urls, *feed_views.urls]
