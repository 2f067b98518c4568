from django.urls import path

from portal.jobs import views

app_name = "jobs"
urlpatterns = [
    path("", views.job_list, name="list"),
    path("<int:pk>", views.job, name="job"),
    path("<int:pk>/results.csv", views.results, name="results"),
    path("<int:pk>/start", views.start, name="start"),
    path("<int:pk>/approve", views.approve, name="approve"),
    path("<int:pk>/pause", views.pause, name="pause"),
    path("<int:pk>/resume", views.resume, name="resume"),
    path("<int:pk>/cancel", views.cancel, name="cancel"),
    path("<int:pk>/retry", views.retry, name="retry"),
    path("<int:pk>/discard", views.discard, name="discard"),
]
