"""Roles, the tier each role works at, and the model permissions of each role's group."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from grids.models import Tier


class Role(models.TextChoices):
    GRID_WORKER = "grid_worker", _("Grid worker")
    STREET_LEADER = "street_leader", _("Street leader")
    COMMUNITY_STAFF = "community_staff", _("Community staff")
    STREET_STAFF = "street_staff", _("Street staff")
    DISTRICT_STAFF = "district_staff", _("District staff")
    DEPARTMENT_STAFF = "department_staff", _("Department staff")


# The area tiers a post of each role may cover; department posts cover a department.
ROLE_AREA_TIERS = {
    Role.GRID_WORKER: {Tier.GRID},
    Role.STREET_LEADER: {Tier.GRID, Tier.BUILDING},
    Role.COMMUNITY_STAFF: {Tier.COMMUNITY},
    Role.STREET_STAFF: {Tier.STREET},
    Role.DISTRICT_STAFF: {Tier.DISTRICT},
}

# Roles whose posts let them administer the organisation below their area.
MANAGING_ROLES = {Role.COMMUNITY_STAFF, Role.STREET_STAFF, Role.DISTRICT_STAFF}

# The households a party-member household looks after (党员中心户联系户), kept with the party organisations.
_LINKED_HOUSEHOLDS = ["grids.add_linkedhousehold", "grids.change_linkedhousehold", "grids.delete_linkedhousehold"]
_ORG_MANAGE = [
    "grids.view_area",
    "grids.add_area",
    "grids.change_area",
    "grids.delete_area",
    "grids.view_department",
    "grids.add_department",
    "grids.change_department",
    "grids.delete_department",
    "grids.view_partyorganization",
    "grids.add_partyorganization",
    "grids.change_partyorganization",
    "grids.delete_partyorganization",
    *_LINKED_HOUSEHOLDS,
    # The camera register: a street keeps its own street's cameras (accounts.scope decides which rows).
    "grids.view_camera",
    "grids.add_camera",
    "grids.change_camera",
    "grids.delete_camera",
    "accounts.view_user",
    "accounts.add_user",
    "accounts.change_user",
    "accounts.view_post",
    "accounts.add_post",
    "accounts.change_post",
    "accounts.delete_post",
]
_ORG_VIEW = [
    "grids.view_area",
    "grids.view_department",
    "grids.view_partyorganization",
    "grids.view_linkedhousehold",
    "grids.view_camera",
]

_CASE_WORK = [
    "cases.view_case",
    "cases.add_case",
    "cases.change_case",
    "cases.view_attachment",
    "cases.add_attachment",
    "cases.view_category",
    "cases.view_workcalendarday",
    "django_fsm_log.view_statelog",
    "cases.view_escalation",
    "outbox.view_notification",
    # Patrols and household visits (cases/visits.py): scope decides whose rows, the recorder edits their own.
    "cases.view_visit",
    "cases.add_visit",
    "cases.change_visit",
    "cases.view_visitphoto",
    "cases.add_visitphoto",
]
# Mediation records of dispute cases (cases/mediation.py): the service decides who keeps which record
# (the mediators and the dispatcher), scope which ones are seen.
_CASE_WORK += [
    "cases.view_mediation",
    "cases.add_mediation",
    "cases.change_mediation",
    "cases.view_mediationparty",
    "cases.add_mediationparty",
    "cases.change_mediationparty",
    "cases.delete_mediationparty",
    "cases.view_mediationsession",
    "cases.add_mediationsession",
    "cases.change_mediationsession",
]
# Training (accounts/training.py): everyone reads courses and their own attendance; managing posts
# record attendance of the people they administer (Scope.administers) and run courses for their area.
_TRAINING_VIEW = ["accounts.view_course", "accounts.view_attendance"]
_TRAINING_RECORD = [
    *_TRAINING_VIEW,
    "accounts.add_course",
    "accounts.change_course",
    "accounts.add_attendance",
    "accounts.change_attendance",
    "accounts.delete_attendance",
]
_SUPERVISION = ["cases.change_escalation"]
# Response templates: district staff keep the district's, a street its own (accounts.scope decides which rows).
_TEMPLATES = [
    "cases.view_responsetemplate",
    "cases.add_responsetemplate",
    "cases.change_responsetemplate",
    "cases.delete_responsetemplate",
]
_CASE_ADMIN = [
    # External systems file across streets: the district registers them (cases/external.py).
    "cases.view_externalsystem",
    "cases.add_externalsystem",
    "cases.change_externalsystem",
    "cases.view_intakerefusal",
    "cases.add_category",
    "cases.change_category",
    "cases.add_workcalendarday",
    "cases.change_workcalendarday",
    "cases.delete_workcalendarday",
    "cases.view_workflowsettings",
    "cases.change_workflowsettings",
    # Which video event type files which entry of the responsibility list.
    "cases.view_eventtype",
    "cases.add_eventtype",
    "cases.change_eventtype",
    "cases.delete_eventtype",
    "outbox.change_notification",
]

_METRICS_VIEW = [
    "metrics.view_safetyindexrun",
    "metrics.view_safetyindexsnapshot",
    "metrics.view_exportjob",
    # Appraisal and accountability: each unit reads its own rows (accounts.scope), appeals its own
    # scores and acknowledges the records concerning it; only the district decides.
    "metrics.view_appraisalrun",
    "metrics.view_appraisalscore",
    "metrics.view_appraisalappeal",
    "metrics.add_appraisalappeal",
    "metrics.view_accountabilityrecord",
    "metrics.view_departmentrating",
]
# Streets rate the departments that handled their cases (五项权力: 人事考核).
_DEPARTMENT_RATING = ["metrics.add_departmentrating", "metrics.change_departmentrating"]
_METRICS_ADMIN = [
    "metrics.view_metricssettings",
    "metrics.add_metricssettings",
    "metrics.change_metricssettings",
    "metrics.add_safetyindexrun",
    "metrics.change_safetyindexrun",
    "metrics.view_appraisalrules",
    "metrics.change_appraisalrules",
    "metrics.add_appraisalrun",
    "metrics.change_appraisalappeal",
    "metrics.add_accountabilityrecord",
    "metrics.change_accountabilityrecord",
    "metrics.view_accountabilitydecision",
    "metrics.add_accountabilitydecision",
    "metrics.change_accountabilitydecision",
]

# Model permissions per role group. Scope (which rows) is decided separately by
# accounts.scope; a permission here only says which kinds of rows a role touches.
ROLE_PERMISSIONS = {
    Role.GRID_WORKER: [*_ORG_VIEW, *_CASE_WORK, *_METRICS_VIEW],
    Role.STREET_LEADER: ["grids.view_area", *_CASE_WORK],
    Role.COMMUNITY_STAFF: [
        *_ORG_VIEW,
        "grids.add_area",
        "grids.change_area",
        "grids.add_partyorganization",
        "grids.change_partyorganization",
        "grids.delete_partyorganization",
        *_LINKED_HOUSEHOLDS,
        "accounts.view_user",
        "accounts.add_user",
        "accounts.change_user",
        "accounts.view_post",
        "accounts.add_post",
        "accounts.change_post",
        "accounts.delete_post",
        *_CASE_WORK,
        *_SUPERVISION,
        *_METRICS_VIEW,
    ],
    Role.STREET_STAFF: [*_ORG_MANAGE, *_CASE_WORK, *_SUPERVISION, *_METRICS_VIEW, *_TEMPLATES, *_DEPARTMENT_RATING],
    Role.DISTRICT_STAFF: [
        *_ORG_MANAGE,
        *_CASE_WORK,
        *_CASE_ADMIN,
        *_SUPERVISION,
        *_METRICS_VIEW,
        *_METRICS_ADMIN,
        *_TEMPLATES,
    ],
    Role.DEPARTMENT_STAFF: [*_ORG_VIEW, *_CASE_WORK, *_SUPERVISION, *_METRICS_VIEW],
}

for _role, _codes in ((Role.GRID_WORKER, _TRAINING_VIEW), *((r, _TRAINING_RECORD) for r in sorted(MANAGING_ROLES))):
    ROLE_PERMISSIONS[_role] = [*ROLE_PERMISSIONS[_role], *_codes]


def _make_permissions(apps):
    """Permissions are normally made after all migrations; make them now so groups can be given them."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def grant_group_permissions(group_model, permission_model, grants: dict) -> None:
    """Create each group of ``grants`` ({name: ["app.codename", ...]}) with those permissions that exist."""
    for name, codes in grants.items():
        group, _ = group_model.objects.get_or_create(name=str(name))
        group.permissions.set(
            [
                perm
                for code in codes
                for perm in permission_model.objects.filter(
                    content_type__app_label=code.split(".")[0], codename=code.split(".")[1]
                )
            ]
        )


def apply_role_permissions(apps):
    """Create the role groups and give them the permissions above that exist so far.

    Called from data migrations: 0002 here, and again by a later app's
    migration once its models (and so its permissions) exist.
    """
    _make_permissions(apps)
    grant_group_permissions(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"), ROLE_PERMISSIONS)


# 三员分立 (等保 2.0 level 3): the system administrator is the superuser; the security
# administrator and the auditor are separate groups, given to people without posts, so
# neither can touch cases or the organisation, and the auditor cannot change anything.
SECURITY_AUDITOR = "security_auditor"
SECURITY_ADMIN = "security_admin"
SECURITY_ROLE_PERMISSIONS = {
    SECURITY_AUDITOR: ["accounts.view_securityevent"],
    SECURITY_ADMIN: [
        # Reset a lost second factor; unlock a locked-out login.
        "otp_totp.view_totpdevice",
        "otp_totp.change_totpdevice",
        "otp_totp.delete_totpdevice",
        "otp_static.view_staticdevice",
        "otp_static.change_staticdevice",
        "otp_static.delete_staticdevice",
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
        "axes.view_accesslog",
        "axes.view_accessfailurelog",
    ],
}


def apply_security_role_permissions(apps):
    """Create the security groups with those of their permissions whose apps are installed."""
    _make_permissions(apps)
    grant_group_permissions(
        apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"), SECURITY_ROLE_PERMISSIONS
    )
