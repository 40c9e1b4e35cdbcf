from django.urls import path

from core import ids  # noqa: F401 (registers the <id:...> converter these paths use)
from imagine import views

urlpatterns = [
    path("api/imagine", views.imagine, name="imagine"),
    path("api/imagine/edit", views.edit, name="imagine-edit"),
    path("api/imagine/<id:image_id>/<str:name>", views.image_file, name="imagine-file"),
    path("api/imagine/public/<str:token>", views.public_file, name="imagine-public-file"),
]
