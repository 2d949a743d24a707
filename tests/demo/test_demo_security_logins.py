"""The demo's 三员分立 logins: `auditor` reads the security audit log only, `secadmin` handles
two-factor devices and lockouts only; neither holds a post, and both are printed."""

import pytest
from django.core.management import call_command

from accounts.models import User
from accounts.roles import SECURITY_ADMIN, SECURITY_AUDITOR


@pytest.mark.django_db
def test_demo_seeds_and_prints_the_security_logins(client, capsys):
    call_command("seed_demo", "--cases", "0")
    printed = capsys.readouterr().out
    for username, group in [("auditor", SECURITY_AUDITOR), ("secadmin", SECURITY_ADMIN)]:
        user = User.objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [group]
        assert not user.posts.exists() and user.is_staff and not user.is_superuser
        assert f"  {username} " in printed

    client.force_login(User.objects.get(username="auditor"))
    assert client.get("/admin/accounts/securityevent/").status_code == 200
    assert client.get("/admin/cases/case/").status_code == 403
    client.force_login(User.objects.get(username="secadmin"))
    assert client.get("/admin/axes/accessattempt/").status_code == 200
    assert client.get("/admin/accounts/securityevent/").status_code == 403
