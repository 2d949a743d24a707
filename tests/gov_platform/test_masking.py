"""Free text published without the contacts in it (gov_platform.masking.redact_contacts)."""

import pytest

from gov_platform.masking import redact_contacts


@pytest.mark.parametrize(
    ("text", "published"),
    [
        ("电话13912345678请回电", "电话139****5678请回电"),
        ("座机0536-8888888", "座机053****8888"),
        ("身份证370702199001011234", "身份证******"),
        ("身份证37070219900101123X", "身份证******"),
        ("邮箱 zhang.san@example.com", "邮箱 z***@example.com"),
        # Longer digit runs are not phones: a case number stays.
        ("见案件202611300000123", "见案件202611300000123"),
        ("", ""),
    ],
)
def test_phone_id_and_email_runs_are_masked(text, published):
    assert redact_contacts(text) == published


def test_the_known_contact_is_masked_wherever_it_appears():
    text = "张三丰说：张三丰家门口堆物，联系张三丰"
    assert redact_contacts(text, known=["张三丰", "", "a"]) == "张**说：张**家门口堆物，联系张**"
