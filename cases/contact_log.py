"""Who saw a resident's unmasked contact: each showing goes to the security audit log
(who, which case, when and from where; PIPL, 等保 2.0 level 3)."""

from accounts.audit import Kind, record

from .selectors import contact_for


# No transaction of its own: a read changes nothing the row must land with, and the row is one INSERT.
def record_contact_view(*, actor, case, via: str, followers=()) -> bool:
    """Log that ``actor`` was shown ``case``'s contact, when it was shown unmasked and holds
    anything; returns whether it was logged. ``via``: "web" (the admin) or "api".

    ``followers``: the followers' contacts shown with it (selectors.followers_for), masked by the same rule."""
    contact = contact_for(actor, case)
    shown = [contact, *followers]
    if contact["masked"] or not any(c[part] for c in shown for part in ("name", "phone", "email")):
        return False
    record(Kind.CONTACT_VIEWED, actor=actor, target=case.number, via=via)
    return True
