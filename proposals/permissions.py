"""The one gate for object access.

Views and the admin fetch objects only through these functions, which raise Http404 for anyone
who may not see the object, so that nobody learns whether it exists.
"""

import functools
from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import connection
from django.http import Http404

from . import prepared
from .models import (
    AssignmentState,
    Attachment,
    Call,
    City,
    CityMembership,
    MemberRole,
    Proposal,
    ReviewAssignment,
    User,
)
from .models.proposal import reads_every_proposal


def can_manage_city(user: User, city: City) -> bool:
    """Leads of the city and programme staff manage its members and join requests."""
    if not user.is_authenticated:
        return False
    if user.is_staff and user.has_perm("proposals.change_city"):
        return True
    return is_city_lead(user, city)


def get_city_for_user(user: User, code: str, *, manage: bool = False) -> City:
    """The city with `code` if `user` is a member (or staff); with `manage`, a lead or staff."""
    city = City.objects.visible_to(user).select_related("country").filter(code=code).first()
    if city is None:
        raise Http404("No such city.")
    if manage and not can_manage_city(user, city):
        raise Http404("No such city.")
    return city


def is_city_member(user: User, city: City) -> bool:
    return user.is_authenticated and CityMembership.objects.filter(city=city, user=user).exists()


def member_city_ids(user: User, cities) -> set[int]:
    """Which of `cities` `user` is a member of, in one query."""
    if not user.is_authenticated:
        return set()
    return set(
        CityMembership.objects.filter(user=user, city__in=[c.pk for c in cities])
        .order_by()
        .values_list("city_id", flat=True)
    )


def is_city_lead(user: User, city: City) -> bool:
    return (
        user.is_authenticated
        and CityMembership.objects.filter(city=city, user=user, role=MemberRole.LEAD).exists()
    )


def get_call_or_404(code: str) -> Call:
    """A published call, which anybody may read."""
    call = Call.objects.published().filter(code=code).first()
    if call is None:
        raise Http404("No such call.")
    return call


# The proposal gate reads the proposal, its call and city and the reader's role in that city in
# one statement, written once per process and set of columns: built through the ORM, the same
# reading cost two queries and three times the time, most of it the ORM's own work on every
# request (the proposal page is the portal's most visited).


@dataclass(frozen=True)
class _Part:
    """One model of the gate's row: its alias, the fields read, and where it hangs."""

    alias: str
    model: type
    fields: tuple
    parent: str | None = None  # the alias of the part holding the foreign key
    via: str | None = None  # that foreign key's name


def _chosen_fields(model, names: list[str] | None) -> tuple:
    """The concrete fields of `model` in `names` (all of them for None) and its key, in the
    model's order (the order Model.from_db reads values in)."""
    if names is not None:
        for name in names:  # as the ORM's only() would, refuse what the model does not have
            if model._meta.get_field(name) not in model._meta.concrete_fields:
                raise FieldDoesNotExist(f"{model.__name__}.{name} is not a column")
    return tuple(
        field
        for field in model._meta.concrete_fields
        if names is None or field.primary_key or field.name in names
    )


@functools.cache
def _gate_statement(only: tuple[str, ...], vendor: str) -> tuple[str, tuple[_Part, ...], tuple]:
    """The gate's SQL for the columns of `only` (see get_proposal_for_user), the parts of its
    row, and the database's converters of each column (the ORM's own, as a query would apply)."""
    from .models import Country

    def of(prefix: str) -> list[str] | None:
        if not only:
            return None
        return [name.removeprefix(prefix) for name in only if name.startswith(prefix)]

    # The proposal's own columns, and always what the gate decides by.
    own = ["code", "status", "call", "city", *(n for n in only if "__" not in n)]
    parts = [
        _Part("p", Proposal, _chosen_fields(Proposal, own if only else None)),
        _Part("ca", Call, _chosen_fields(Call, of("call__")), "p", "call"),
        _Part("ci", City, _chosen_fields(City, of("city__")), "p", "city"),
    ]
    if not only:
        parts.append(_Part("co", Country, _chosen_fields(Country, None), "ci", "country"))
    quote = connection.ops.quote_name
    by_alias = {part.alias: part for part in parts}
    columns, joins, converters = [], [], []
    for part in parts:
        for field in part.fields:
            columns.append(f"{part.alias}.{quote(field.column)}")
            column = field.get_col(part.alias)
            found = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
            if found:
                converters.append((len(columns) - 1, column, tuple(found)))
        if part.parent:
            key = by_alias[part.parent].model._meta.get_field(part.via)
            joins.append(
                f"JOIN {quote(part.model._meta.db_table)} {part.alias} ON "
                f"{part.alias}.{quote(key.target_field.column)} = {part.parent}.{quote(key.column)}"
            )
    # Names from the models' metadata only; the reader and the code are parameters.
    sql = (
        f"SELECT {', '.join(columns)}, m.{quote('role')} "  # noqa: S608
        f"FROM {quote(Proposal._meta.db_table)} p {' '.join(joins)} "
        f"LEFT JOIN {quote(CityMembership._meta.db_table)} m "
        "ON m.city_id = p.city_id AND m.user_id = %s "
        "WHERE p.code = %s"
    )
    return sql, tuple(parts), tuple(converters)


def _read_gate_row(user: User, code: str, only: tuple[str, ...]) -> Proposal | None:
    """The proposal with `code` (its call and city, and the city's country without `only`),
    with `reader_role` set; None when there is no such proposal."""
    sql, parts, converters = _gate_statement(only, connection.vendor)
    with connection.cursor() as cursor:
        # One membership per city and user and one proposal per code (unique constraints):
        # at most one row.
        prepared.execute(cursor, sql, [user.pk, code])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, column, functions in converters:
        for convert in functions:
            values[index] = convert(values[index], column, connection)
    instances, start = {}, 0
    for part in parts:
        end = start + len(part.fields)
        instance = part.model.from_db(
            connection.alias, [field.attname for field in part.fields], values[start:end]
        )
        if part.parent:
            setattr(instances[part.parent], part.via, instance)
        instances[part.alias], start = instance, end
    proposal = instances["p"]
    proposal.reader_role = values[-1]
    return proposal


def get_proposal_for_user(
    user: User, code: str, *, write: bool = False, only: tuple[str, ...] = ()
) -> Proposal:
    """The proposal with `code` for its city's members and programme staff; 404 for others.

    With `write`, only members of the city (who draft it) pass; staff who may read it get 403.
    The proposal comes with the reader's role in its city (`reader_role`: None when they are
    not a member). Who may read is `Proposal.objects.visible_to`'s rule, checked on the one
    row. Without `only`, the proposal comes with its call and its city and country; with
    `only` (names of the proposal's fields, and of its call's and city's as `call__title`),
    the proposal, call and city come with those columns alone (and their keys).
    """
    if not user.is_authenticated:
        raise Http404("No such proposal.")
    proposal = _read_gate_row(user, code, only)
    if proposal is None:
        raise Http404("No such proposal.")
    if proposal.reader_role is None and not is_programme_staff(user):
        raise Http404("No such proposal.")
    if write and proposal.reader_role is None:
        raise PermissionDenied
    return proposal


def get_attachment_for_user(
    user: User, proposal_code: str, code: str, *, write: bool = False
) -> Attachment:
    """An attachment of a proposal `user` may see (with `write`, one they may edit)."""
    proposal = get_proposal_for_user(user, proposal_code, write=write)
    attachment = proposal.attachments.filter(code=code).first()
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


def get_assignment_for_reviewer(user: User, pk) -> ReviewAssignment:
    """The reviewer's own assignment; 404 for anybody else's, whoever asks."""
    assignment = (
        ReviewAssignment.objects.filter(pk=pk, reviewer_id=user.pk)
        .select_related("proposal__call", "proposal__city__country")
        .first()
        if str(pk).isdigit() and user.is_authenticated
        else None
    )
    if assignment is None:
        raise Http404("No such assignment.")
    return assignment


def reviewer_may_read(assignment: ReviewAssignment) -> bool:
    """A reviewer reads the proposal only after declaring that they have no conflict."""
    return assignment.state in (AssignmentState.ACCEPTED, AssignmentState.SUBMITTED)


def get_attachment_for_reviewer(user: User, assignment_pk, code: str) -> Attachment:
    assignment = get_assignment_for_reviewer(user, assignment_pk)
    if not reviewer_may_read(assignment):
        raise Http404("Declare first.")
    attachment = assignment.proposal.attachments.filter(code=code).first()
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


def is_programme_staff(user: User) -> bool:
    # Programme staff are admin users who read every proposal (the rule of visible_to).
    return user.is_active and reads_every_proposal(user)


def staff_only(view):
    """Reports are for programme staff; to anybody else they do not exist (404)."""
    from functools import wraps

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not is_programme_staff(request.user):
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapped


def get_export_job_for_user(user: User, code: str):
    from .models import ExportJob

    job = ExportJob.objects.filter(code=code, requested_by_id=user.pk).first()
    if job is None or not is_programme_staff(user):
        raise Http404("No such export.")
    return job
