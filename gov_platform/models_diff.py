"""What an edit changes: field by field, as recorded in the audit log."""


def changed_fields(instance) -> dict:
    """{field's name as people read it: [stored value, new value]} for the fields that differ from the stored row."""
    model = type(instance)
    stored = model._default_manager.filter(pk=instance.pk).first() if instance.pk else None
    changes = {}
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        new = field.value_from_object(instance)
        old = field.value_from_object(stored) if stored is not None else None
        if new != old:
            changes[str(field.verbose_name)] = [_plain(old), _plain(new)]
    return changes


def _plain(value):
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)
