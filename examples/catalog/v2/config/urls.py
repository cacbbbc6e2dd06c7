"""URL configuration for the example "catalog" project: / redirects to the catalog."""
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path('', RedirectView.as_view(pattern_name='books:index', permanent=False)),
    path('books/', include('books.urls')),
    path('admin/', admin.site.urls),
]
