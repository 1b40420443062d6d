from .call import Aggregation, Call, CallQuerySet, DeadlineExtension, RubricCriterion, Stage
from .desk import DeskFile, DeskMessage, DeskRequest, DeskState, DeskTopic
from .geo import (
    AscnStatus,
    City,
    CityInvitation,
    CityKind,
    CityMembership,
    Country,
    JoinRequest,
    JoinRequestStatus,
    MemberRole,
    VerificationStatus,
    normalise_name,
)
from .notification import Notification, NotificationKind, NotificationState
from .project import (
    ConsultantInvitation,
    Deliverable,
    DeliverableKind,
    DeliverableState,
    DeliverableVersion,
    Facility,
    FinancingDocument,
    FinancingKind,
    FinancingStatus,
    FinancingStatusChange,
    FinancingTrack,
    KickOff,
    Payment,
    Project,
    ProjectStage,
    ProjectStageChange,
)
from .proposal import (
    BEFORE_DECISION,
    CITY_EDITABLE,
    CITY_FIELDS,
    ELIGIBILITY_CHECKS,
    STATUS_LABELS,
    Attachment,
    AttachmentKind,
    FocusArea,
    Instrument,
    JapanesePartner,
    Message,
    PartnerKind,
    Proposal,
    ProposalRevision,
    ProposalSnapshot,
    ReferenceSequence,
    Sector,
    Status,
    StatusChange,
)
from .report import ExportJob, ExportState
from .review import (
    AssignmentState,
    AuditEvent,
    CriterionFeedback,
    EvaluationSummary,
    Recommendation,
    Review,
    ReviewAssignment,
    ReviewQuerySet,
    Score,
)
from .user import User
