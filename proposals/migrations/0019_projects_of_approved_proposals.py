"""Every proposal approved before projects existed becomes its project, as approving one now
does (services.projects.create_project), with the default plan of deliverables."""

from django.db import migrations


def create_projects(apps, schema_editor):
    from proposals.fiscal import fiscal_year, fiscal_year_end
    from proposals.models.project import default_plan

    Proposal = apps.get_model("proposals", "Proposal")
    Project = apps.get_model("proposals", "Project")
    Deliverable = apps.get_model("proposals", "Deliverable")
    from proposals.models.geo import new_code

    for proposal in Proposal.objects.filter(status="approved", project__isnull=True).iterator():
        year = fiscal_year(proposal.decided_at or proposal.updated_at)
        project = Project.objects.create(
            proposal=proposal, code=new_code(), fiscal_year=year, report_by=fiscal_year_end(year)
        )
        Deliverable.objects.bulk_create(
            Deliverable(project=project, kind=kind, due_on=due) for kind, due in default_plan(year)
        )


class Migration(migrations.Migration):
    dependencies = [("proposals", "0018_financing_tracks")]

    operations = [migrations.RunPython(create_projects, migrations.RunPython.noop)]
