from django.http import HttpResponse
from django.shortcuts import render

from .models import Person

RELEASE = "v2"


def index(request):
    """List every person in a table."""
    people = Person.objects.order_by("id")
    return render(request, "people/index.html", {"people": people, "release": RELEASE})


def healthz(request):
    """Answer 200 "ok" while the process is up (no database access)."""
    return HttpResponse("ok", content_type="text/plain")
