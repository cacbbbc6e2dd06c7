from django.shortcuts import render

from . import RELEASE
from .models import Book, ReadyCheck


def index(request):
    """List the books of the catalog."""
    context = {
        "books": Book.objects.order_by("title"),
        "ready": ReadyCheck.objects.filter(release=RELEASE).first(),
        "release": RELEASE,
    }
    return render(request, "books/index.html", context)
