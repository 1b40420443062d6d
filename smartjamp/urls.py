from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from proposals.views import (
    calls,
    cities,
    desk,
    notifications,
    pages,
    portfolio,
    projects,
    proposals,
    public_projects,
    staff,
)
from smartjamp import views

urlpatterns = [
    path("", pages.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/profile/", pages.profile, name="profile"),
    path("language/", pages.set_language, name="set_language"),
    path("accounts/", include("allauth.urls")),
    path("cities/", cities.my_cities, name="my_cities"),
    path("cities/register/", cities.register_city, name="register_city"),
    path("cities/<str:code>/", cities.city_detail, name="city_detail"),
    path("cities/<str:code>/letter/", cities.city_letter, name="city_letter"),
    path("cities/<str:code>/join/", cities.request_join, name="city_join"),
    path("cities/<str:code>/members/", cities.manage_member, name="city_manage_member"),
    path("cities/<str:code>/requests/", cities.answer_join_request, name="city_answer_request"),
    path("cities/<str:code>/invitations/", cities.invite, name="city_invite"),
    path(
        "cities/<str:code>/invitations/revoke/",
        cities.revoke_invitation,
        name="city_revoke_invitation",
    ),
    path("cities/<str:code>/verify/", cities.verify, name="city_verify"),
    path("cities/<str:code>/reject/", cities.reject, name="city_reject"),
    path("invitations/<str:token>/", cities.invitation, name="city_invitation"),
    path("calls/", calls.call_list, name="call_list"),
    path("calls/<str:code>/", calls.call_detail, name="call_detail"),
    path("calls/<str:code>/start/", calls.start_proposal, name="call_start_proposal"),
    path("projects/", public_projects.project_list, name="public_projects"),
    path("projects/mine/", projects.my_projects, name="my_projects"),
    path("projects/<str:code>/", projects.project_detail, name="project_detail"),
    path(
        "projects/<str:code>/deliverables/<str:kind>/upload/",
        projects.deliverable_upload,
        name="deliverable_upload",
    ),
    path(
        "projects/<str:code>/deliverables/<str:kind>/review/",
        projects.deliverable_review,
        name="deliverable_review",
    ),
    path("projects/<str:code>/minutes/", projects.kickoff_minutes, name="kickoff_minutes"),
    path(
        "projects/<str:code>/image/",
        public_projects.project_image,
        name="public_project_image",
    ),
    path(
        "projects/<str:code>/files/<str:file_code>/",
        projects.deliverable_file,
        name="deliverable_file",
    ),
    path(
        "projects/<str:code>/financing/<str:file_code>/",
        projects.financing_document,
        name="financing_document",
    ),
    path("proposals/", proposals.my_proposals, name="my_proposals"),
    path("proposals/<str:code>/", proposals.proposal_detail, name="proposal_detail"),
    path("proposals/<str:code>/edit/", proposals.proposal_edit, name="proposal_edit"),
    path("proposals/<str:code>/submit/", proposals.proposal_submit, name="proposal_submit"),
    path("proposals/<str:code>/receipt/", proposals.proposal_receipt, name="proposal_receipt"),
    path("proposals/<str:code>/print/", proposals.proposal_print, name="proposal_print"),
    path("proposals/<str:code>/copy/", proposals.proposal_copy, name="proposal_copy"),
    path("proposals/<str:code>/withdraw/", proposals.proposal_withdraw, name="proposal_withdraw"),
    path("proposals/<str:code>/messages/", proposals.message_post, name="proposal_message"),
    path("proposals/<str:code>/ready/", proposals.proposal_ready, name="proposal_ready"),
    path(
        "proposals/<str:code>/attachments/",
        proposals.attachment_upload,
        name="proposal_attachment_upload",
    ),
    path(
        "proposals/<str:code>/attachments/<str:attachment_code>/",
        proposals.attachment_download,
        name="proposal_attachment",
    ),
    path(
        "proposals/<str:code>/attachments/<str:attachment_code>/delete/",
        proposals.attachment_delete,
        name="proposal_attachment_delete",
    ),
    path("desk/", desk.desk, name="desk"),
    path("desk/new/", desk.desk_new, name="desk_new"),
    path("desk/<str:code>/", desk.desk_request, name="desk_request"),
    path("desk/<str:code>/reply/", desk.desk_reply, name="desk_reply"),
    path("desk/<str:code>/close/", desk.desk_close, name="desk_close"),
    path("desk/<str:code>/project/", desk.desk_link, name="desk_link"),
    path("desk/<str:code>/files/<str:file_code>/", desk.desk_file, name="desk_file"),
    path("notifications/", notifications.notification_list, name="notifications"),
    path("notifications/<int:pk>/", notifications.notification_detail, name="notification_detail"),
    path("staff/", staff.dashboard, name="staff_dashboard"),
    path("staff/portfolio/", portfolio.portfolio_page, name="staff_portfolio"),
    path(
        "staff/exports/projects.<str:fmt>",
        portfolio.export_projects,
        name="staff_export_projects",
    ),
    path(
        "staff/exports/deliverables.<str:fmt>",
        portfolio.export_deliverables,
        name="staff_export_deliverables",
    ),
    path(
        "staff/exports/financing-tracks.<str:fmt>",
        portfolio.export_financing_tracks,
        name="staff_export_financing_tracks",
    ),
    path(
        "staff/exports/proposals.<str:fmt>", staff.export_proposals, name="staff_export_proposals"
    ),
    path(
        "staff/exports/summary-by-<str:by>.<str:fmt>",
        staff.export_summary,
        name="staff_export_summary",
    ),
    path(
        "staff/exports/review-progress.<str:fmt>",
        staff.export_review_progress,
        name="staff_export_review_progress",
    ),
    path(
        "staff/exports/ranking/<str:code>.<str:fmt>",
        staff.export_ranking,
        name="staff_export_ranking",
    ),
    path("staff/exports/jobs/<str:code>/", staff.export_job, name="staff_export_job"),
    path(
        "staff/exports/jobs/<str:code>/download/",
        staff.export_job_download,
        name="staff_export_job_download",
    ),
    path("admin/", admin.site.urls),
]

if settings.BENCHMARK_VIEWS:
    urlpatterns.append(path("bench/reference/", views.bench_reference, name="bench_reference"))
