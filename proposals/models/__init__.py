from .geo import (
    AscnStatus,
    City,
    CityKind,
    CityMembership,
    Country,
    JoinRequest,
    JoinRequestStatus,
    MemberRole,
    VerificationStatus,
    normalise_name,
)
from .user import User

__all__ = [
    "AscnStatus",
    "City",
    "CityKind",
    "CityMembership",
    "Country",
    "JoinRequest",
    "JoinRequestStatus",
    "MemberRole",
    "User",
    "VerificationStatus",
    "normalise_name",
]
