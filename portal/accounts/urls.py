from django.urls import path

from portal.accounts import views

app_name = "accounts"

urlpatterns = [
    path("sign-in", views.sign_in, name="sign_in"),
    path("callback", views.callback, name="callback"),
    path("sign-out", views.sign_out, name="sign_out"),
    path("disconnect", views.disconnect, name="disconnect"),
    path("people", views.people, name="people"),
    path("people/<int:pk>/role", views.set_role, name="set_role"),
]
