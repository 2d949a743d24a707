"""Admin pages for records kept as written."""


class ReadOnlyAdminMixin:
    """A record kept as written (audit rows, recorded months, export jobs): shown, never added, changed or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInlineMixin:
    """Rows shown on their parent's page to whoever may open the parent: never added or edited there."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return True
