from django.contrib import admin
from django.urls import include, path

from proposals import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/profile/", views.profile, name="profile"),
    path("accounts/", include("allauth.urls")),
    path("cities/", views.my_cities, name="my_cities"),
    path("cities/register/", views.register_city, name="register_city"),
    path("cities/<str:code>/", views.city_detail, name="city_detail"),
    path("cities/<str:code>/letter/", views.city_letter, name="city_letter"),
    path("cities/<str:code>/join/", views.request_join, name="city_join"),
    path("cities/<str:code>/members/", views.manage_member, name="city_manage_member"),
    path("cities/<str:code>/requests/", views.answer_join_request, name="city_answer_request"),
    path("admin/", admin.site.urls),
]
