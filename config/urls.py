from django.contrib import admin
from django.urls import include, path

from assistant.ops.admin_views import dashboard_css, dashboard_view
from assistant.web.i18n import javascript_catalogue
from assistant.web.views import ThrottledLoginView, signup

urlpatterns = [
    # Both sign-in forms count attempts per client address (core/limits.py).
    path("admin/login/", ThrottledLoginView.as_view(template_name="admin/login.html"), name="admin-login"),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/signup/", signup, name="signup"),
    path("admin/dashboard/", dashboard_view, name="admin-dashboard"),
    path("admin/dashboard.css", dashboard_css, name="admin-dashboard-css"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("jsi18n/<str:language>/", javascript_catalogue, name="javascript-catalog"),
    path("", include("assistant.urls")),
    path("", include("integrations.urls")),  # /webhooks/<app>
    path("", include("imagine.urls")),  # /api/imagine
    path("", include("knowledge.urls")),  # /api/memory, /api/documents
]

# Django's refusals in the JSON shape of the API called (config/error_pages.py).
handler400 = "config.error_pages.bad_request"
handler404 = "config.error_pages.page_not_found"
handler500 = "config.error_pages.server_error"
