"""The one gate for object access.

Views and the admin fetch objects only through these functions, which raise Http404 for anyone
who may not see the object, so that nobody learns whether it exists.
"""

from django.http import Http404

from .models import City, CityMembership, MemberRole, User


def can_manage_city(user: User, city: City) -> bool:
    """Leads of the city and programme staff manage its members and join requests."""
    if not user.is_authenticated:
        return False
    if user.has_perm("proposals.change_city"):
        return True
    return CityMembership.objects.filter(city=city, user=user, role=MemberRole.LEAD).exists()


def get_city_for_user(user: User, code: str, *, manage: bool = False) -> City:
    """The city with `code` if `user` is a member (or staff); with `manage`, a lead or staff."""
    city = City.objects.visible_to(user).select_related("country").filter(code=code).first()
    if city is None:
        raise Http404("No such city.")
    if manage and not can_manage_city(user, city):
        raise Http404("No such city.")
    return city
