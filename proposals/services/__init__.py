"""Changes that touch several rows or have side effects, one module per part of the domain
(matching `proposals/models/`):

- `cities`: registration, joining, verification, members' roles;
- `proposals`: starting, drafting, attachments, submission, withdrawal, messages, transitions;
- `review`: screening, revisions, decisions, assignments, conflicts of interest, scores;
- `projects`: the project an approved proposal becomes, and its stages;
- `desk`: the consultation desk's requests, answers and follow-ups.

Views, the admin, commands and tasks all call these functions (as `services.<name>`); none
of them writes a status field itself. Each takes the acting user, checks that the user may
act, and runs in one transaction. The audit trail has its own writer, `proposals.audit.record`.
"""

from .cities import (
    DuplicateCity,
    accept_invitation,
    change_member_role,
    decide_join_request,
    find_invitation,
    invitation_refusal,
    invite_to_city,
    register_city,
    reject_city,
    remove_member,
    request_to_join,
    revoke_invitation,
    verify_city,
)
from .desk import (
    age_in_working_days,
    answer_request,
    close_request,
    follow_up_request,
    is_overdue,
    link_request_to_project,
    open_request,
)
from .projects import (
    add_financing_document,
    add_financing_track,
    change_financing_status,
    claim_invitations,
    create_project,
    invite_consultant,
    mark_published,
    publication_refusal,
    record_publication,
    review_deliverable,
    set_published,
    take_project_transition,
    upload_deliverable,
)
from .proposals import (
    ATTACHMENT_TYPES,
    AlreadySubmitted,
    StaleProposal,
    add_attachment,
    audit_download,
    copy_proposal,
    delete_attachment,
    drafting_refusals,
    drafting_refusals_by_city,
    mark_ready_for_lead,
    post_message,
    save_draft,
    start_proposal,
    status_changed,
    submission_refusals,
    submit_proposal,
    take_transition,
    withdraw_proposal,
)
from .review import (
    approve_proposal,
    assign_reviewers,
    assignment_refusal,
    auto_assign,
    declare_conflict,
    envelope_use,
    open_panel,
    panel_candidates,
    record_consensus,
    record_eligibility,
    reject_proposal,
    request_revision,
    review_submission_refusals,
    reviewer_pool,
    save_review,
    screen_proposal,
    send_to_review,
    shortlist_proposal,
    write_evaluation_summary,
)
