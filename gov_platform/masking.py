"""How personal data is shown to people who may not read it in full: names, phones, emails."""

import re


def mask_name(name: str) -> str:
    return (name[0] + "*" * (len(name) - 1)) if name else ""


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else ("*" * len(phone))


def mask_email(email: str) -> str:
    if "@" not in email:
        return ""
    local, domain = email.split("@", 1)
    return f"{local[:1]}***@{domain}"


def mask_address(address: str) -> str:
    """A message address (an email address or a mobile number) as officials see it."""
    return mask_email(address) if "@" in address else mask_phone(address)


# Resident ID numbers, mainland mobile numbers and landlines with an area code as people type them into
# free text ("联系人张三 13912345678"): not glued to other digits or letters. And email addresses.
_ID_OR_PHONE_IN_TEXT = re.compile(r"(?<![\dA-Za-z])(\d{17}[\dXx]|1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?![\dA-Za-z])")
_EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def redact_contacts(text: str, *, known=()) -> str:
    """Free text fit to publish: ID numbers, phones and email addresses in it masked, and each of ``known``
    (the case's own contact name, phone, email) masked wherever it appears."""
    if not text:
        return ""
    for value in sorted({v for v in known if v and len(v) >= 2}, key=len, reverse=True):
        text = text.replace(value, mask_name(value))
    text = _ID_OR_PHONE_IN_TEXT.sub(lambda m: "*" * 6 if len(m.group()) == 18 else mask_phone(m.group()), text)
    return _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group()), text)
