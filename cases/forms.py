"""The input of each step, shared by the admin's transition pages and the API.

Forms parse and offer choices within the user's scope; cases/services.py
re-checks every rule when the step is taken.
"""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from grids.models import Area, Department

from . import response_templates, rules
from .models import AssistStatus, AttachmentKind, Case, Category, DismissReason, MediationOutcome, Priority, Rating


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultiplePhotoField(forms.FileField):
    """Several photos in one field (Django's documented pattern)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            files = [single(d, initial) for d in data if d]
        else:
            files = [single(data, initial)] if data else []
        if self.required and not files:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        if len(files) > settings.CASE_PHOTOS_PER_UPLOAD:
            raise forms.ValidationError(_("At most %(n)d photos.") % {"n": settings.CASE_PHOTOS_PER_UPLOAD})
        return files


class TransitionForm(forms.Form):
    comment = forms.CharField(
        label=_("Comment"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    comment_required = False
    comment_label = None
    # Required fields are marked in the page before anyone submits (label class and the required attribute).
    required_css_class = "required"

    def __init__(self, *args, case: Case, user, step: str | None = None, **kwargs):
        self.case, self.user = case, user
        super().__init__(*args, **kwargs)
        if self.comment_required:
            self.fields["comment"].required = True
        if self.comment_label:
            self.fields["comment"].label = self.comment_label
        self.templates = {str(t.pk): t for t in response_templates.usable(user, step, case)} if step else {}
        if self.templates:
            self.fields["template"] = forms.ChoiceField(
                label=_("Response template"),
                required=False,
                choices=[("", _("— write it yourself —"))]
                # Filled in for this case: the official chooses the words the resident or the file will read.
                + [
                    (pk, f"{t.get_audience_display()}：{response_templates.fill(t, case)[:60]}")
                    for pk, t in self.templates.items()
                ],
                help_text=_("With the comment left empty, the chosen template is the comment."),
            )
            self.order_fields(["template", "comment"])
            if self.data.get("template"):
                # The template stands in for a comment the step requires.
                self.fields["comment"].required = False

    def clean(self):
        cleaned = super().clean()
        chosen = self.templates.get(cleaned.pop("template", "") or "")
        if chosen is not None and not (cleaned.get("comment") or "").strip():
            cleaned["comment"] = response_templates.fill(chosen, self.case)
        if self.comment_required and not (cleaned.get("comment") or "").strip() and "comment" not in self.errors:
            self.add_error("comment", forms.Field.default_error_messages["required"])
        return cleaned

    def service_kwargs(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "") and k != "template"}


class AssessForm(TransitionForm):
    category = forms.ModelChoiceField(
        label=_("Category"),
        queryset=Category.objects.filter(parent__isnull=False, is_active=True),
        required=False,
        help_text=_("Leave empty to keep the reported category."),
    )
    priority = forms.ChoiceField(label=_("Priority"), choices=[("", "---------"), *Priority.choices], required=False)


class DismissForm(TransitionForm):
    comment_required = True
    comment_label = _("Explanation")
    reason = forms.ChoiceField(label=_("Reason"), choices=DismissReason.choices)
    duplicate_of = forms.CharField(label=_("Duplicate of case number"), required=False, max_length=20)

    def clean_duplicate_of(self):
        number = self.cleaned_data["duplicate_of"].strip()
        if not number:
            return None
        original = Case.objects.filter(rules.visible_q(self.user), number=number).first()
        if original is None:
            raise forms.ValidationError(_("No case %(number)s that you can see.") % {"number": number})
        return original


class AssignForm(TransitionForm):
    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.none(), required=False)
    area = forms.ModelChoiceField(
        label=_("Area"),
        queryset=Area.objects.none(),
        required=False,
        help_text=_("Or hand it to the grid, community, street or district."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ancestors = self.case.grid.ancestor_paths(include_self=True)
        self.fields["department"].queryset = Department.objects.filter(area__path__in=ancestors)
        self.fields["area"].queryset = Area.objects.filter(path__in=ancestors).order_by("depth")
        category = self.case.category
        self.fields["department"].help_text = _("Empty: the responsibility list's default (%(unit)s).") % {
            "unit": category.default_department or category.get_default_tier_display()
        }


class SendBackForm(TransitionForm):
    comment_required = True
    comment_label = _("Why it is not ours")


class HandleForm(TransitionForm):
    result = forms.CharField(label=_("Result"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4}))
    photos = MultiplePhotoField(label=_("Photos after handling"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The service needs an after-photo: one already on the case will do, else this form must bring one.
        if not self.case.attachments.filter(kind=AttachmentKind.AFTER).exists():
            self.fields["photos"].required = True
            self.fields["photos"].error_messages["required"] = _("Add at least one photo taken after handling.")


class RejectForm(TransitionForm):
    comment_required = True
    comment_label = _("What failed verification")


class FeedBackForm(TransitionForm):
    comment_required = True
    comment_label = _("Verifier's comment")


class RateForm(TransitionForm):
    rating = forms.ChoiceField(label=_("Rating"), choices=Rating.choices, widget=forms.RadioSelect)
    rating_comment = forms.CharField(
        label=_("Resident's words"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


# --- extension (延期) and suspension (挂账), cases/extensions.py ---------------------------
class ExtensionRequestForm(TransitionForm):
    comment_required = True
    comment_label = _("Reason")
    days = forms.IntegerField(label=_("Working days more"), min_value=1, max_value=365)
    photos = MultiplePhotoField(label=_("Photos"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].help_text = _("At most %(n)d working days per request for this category.") % {
            "n": self.case.category.extension_max_days
        }


class ExtensionApproveForm(TransitionForm):
    comment_required = True
    comment_label = _("Decision comment")
    granted_days = forms.IntegerField(
        label=_("Working days granted"),
        min_value=1,
        max_value=365,
        required=False,
        help_text=_("Empty: as many as were asked for."),
    )


class RefuseRequestForm(TransitionForm):
    comment_required = True
    comment_label = _("Why it is refused")


class SuspensionRequestForm(TransitionForm):
    comment_required = True
    comment_label = _("Why it cannot be solved now")
    review_date = forms.DateField(label=_("Review date"), widget=forms.DateInput(attrs={"type": "date"}))
    photos = MultiplePhotoField(label=_("Photos"), required=False)


class SuspensionApproveForm(TransitionForm):
    comment_required = True
    comment_label = _("Decision comment")
    review_date = forms.DateField(
        label=_("Review date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Empty: the date the unit asked for."),
    )


class LiftSuspensionForm(TransitionForm):
    comment_required = True
    comment_label = _("Why handling resumes now")


# --- joint handling (主办/协办), cases/joint.py ---------------------------------------------
class AddAssistForm(AssignForm):
    task = forms.CharField(label=_("Task"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))
    days = forms.IntegerField(
        label=_("Sub-deadline (working days)"),
        min_value=1,
        max_value=365,
        required=False,
        help_text=_("Empty: the category's handling time."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].help_text = _("The assisting department, or an area below.")
        self.fields["area"].help_text = ""


class FinishAssistForm(TransitionForm):
    result = forms.CharField(label=_("What your unit did"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4}))
    photos = MultiplePhotoField(label=_("Photos"), required=False)


class ReturnAssistForm(TransitionForm):
    comment_required = True
    comment_label = _("Why your unit cannot do this part")


class WaiveAssistForm(TransitionForm):
    comment_required = True
    comment_label = _("Why the task is waived")
    task = forms.ModelChoiceField(label=_("Assisting task"), queryset=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["task"].queryset = self.case.assist_tasks.filter(
            status__in=[AssistStatus.OPEN, AssistStatus.RETURNED]
        ).select_related("department", "area")
        self.fields["task"].label_from_instance = lambda t: f"{t.unit} · {t.task[:40]} · {t.get_status_display()}"


class RecordMediationForm(TransitionForm):
    """The outcome of a dispute's mediation (cases/mediation.py); the comment says what it came to."""

    comment_required = True
    comment_label = _("What the mediation came to")
    outcome = forms.ChoiceField(label=_("Outcome"), choices=MediationOutcome.choices)
    agreement = forms.FileField(
        label=_("Mediation agreement"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/*"}),
        help_text=_("The signed agreement: a PDF or a photo, at most 8 MB."),
    )
