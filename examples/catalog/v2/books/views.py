import hmac

from django import forms
from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import RELEASE
from .models import Book, ReadyCheck


class BookForm(forms.ModelForm):
    class Meta:
        model = Book
        fields = ["title", "author"]


def tagged(response):
    """RESPONSE with the header that says which release answered."""
    response["X-Release"] = RELEASE
    return response


def index(request):
    """List the first 100 books of the catalog by title."""
    context = {
        "books": Book.objects.order_by("title")[:100],
        "ready": ReadyCheck.objects.filter(release=RELEASE).first(),
        "release": RELEASE,
    }
    return tagged(render(request, "books/index.html", context))


def authorized(request):
    """Whether REQUEST carries the bearer token settings.CATALOG_API_TOKEN (no token set: nobody is)."""
    token = settings.CATALOG_API_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), ("Bearer " + token).encode())


@csrf_exempt
@require_POST
def add(request):
    """Add a book from the form fields title and author: 201 and its id, as JSON.

    An API for scripts: no session and so no CSRF token, but a bearer token
    (Authorization: Bearer <CATALOG_API_TOKEN>); 403 without it.
    """
    if not authorized(request):
        return tagged(JsonResponse({"error": "a valid Authorization: Bearer token is required"}, status=403))
    form = BookForm(request.POST)
    if not form.is_valid():
        return tagged(JsonResponse({"errors": form.errors}, status=400))
    book = form.save()
    return tagged(JsonResponse({"id": book.pk, "release": RELEASE}, status=201))
