"""Imagine's URLs alone, until the lead includes them in config/urls.py."""

from django.urls import include, path

urlpatterns = [path("", include("imagine.urls"))]
