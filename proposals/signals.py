"""Side concerns kept out of the main workflow."""

from allauth.account.models import EmailAddress
from allauth.account.signals import email_confirmed
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import services
from .models import Attachment, City, DeliverableVersion, KickOff, Review, RubricCriterion
from .scoring import refresh_weighted_scores


def _delete_after_commit(field_file) -> None:
    # Uploads hold personal data: a deleted row must not leave its file behind. Deleting only
    # after commit keeps the file if the transaction rolls back.
    if field_file and field_file.name:
        storage, name = field_file.storage, field_file.name
        transaction.on_commit(lambda: storage.delete(name))


@receiver(post_save, sender=RubricCriterion, dispatch_uid="smartjamp_reweigh_reviews")
def reweigh_reviews(sender, instance: RubricCriterion, raw=False, **kwargs) -> None:
    """A criterion's weight may have changed: the stored weighted scores of the reviews that
    scored it are computed again (a criterion with scores cannot be deleted)."""
    if raw:
        return
    refresh_weighted_scores(Review.objects.filter(scores__criterion=instance))


@receiver(post_delete, sender=City, dispatch_uid="smartjamp_delete_city_letter")
def delete_city_letter(sender, instance: City, **kwargs) -> None:
    _delete_after_commit(instance.authorisation_letter)


@receiver(post_delete, sender=KickOff, dispatch_uid="smartjamp_delete_kickoff_minutes")
def delete_kickoff_minutes(sender, instance: KickOff, **kwargs) -> None:
    _delete_after_commit(instance.minutes)


@receiver(post_delete, sender=Attachment, dispatch_uid="smartjamp_delete_attachment_file")
@receiver(post_delete, sender=DeliverableVersion, dispatch_uid="smartjamp_delete_deliverable_file")
def delete_attachment_file(sender, instance, **kwargs) -> None:
    _delete_after_commit(instance.file)


@receiver(email_confirmed, dispatch_uid="smartjamp_claim_consultant_invitations")
def claim_consultant_invitations(sender, request, email_address, **kwargs) -> None:
    """A confirmed address with invitations to projects: its account joins them."""
    services.claim_invitations(email_address.user, email_address.email)


@receiver(user_logged_in, dispatch_uid="smartjamp_claim_invitations_at_sign_in")
def claim_invitations_at_sign_in(sender, request, user, **kwargs) -> None:
    """Invitations sent to a verified address while it was being confirmed (neither saw the
    other) are claimed at the next sign-in."""
    for email in EmailAddress.objects.filter(user=user, verified=True).values_list(
        "email", flat=True
    ):
        services.claim_invitations(user, email)
