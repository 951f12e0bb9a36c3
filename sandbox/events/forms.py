from django import forms

DATETIME_LOCAL = forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1})
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


class RotateSecretForm(forms.Form):
    overlap_seconds = forms.TypedChoiceField(
        coerce=int,
        label="The old secret keeps signing for",
        choices=[
            (0, "no time: retire it now"),
            (3600, "1 hour"),
            (86400, "1 day"),
            (604800, "7 days"),
        ],
        initial=86400,
    )


class ClockForm(forms.Form):
    name = forms.CharField(max_length=80)
    frozen_time = forms.DateTimeField(
        required=False,
        widget=DATETIME_LOCAL,
        input_formats=DATETIME_FORMATS,
        label="Starts at",
        help_text="Leave empty for now.",
    )


class AdvanceForm(forms.Form):
    PRESETS = [
        ("", "— or pick a time below —"),
        ("3600", "+1 hour"),
        ("86400", "+1 day"),
        ("259200", "+3 days"),
        ("604800", "+1 week"),
        ("2678400", "+31 days"),
    ]
    preset = forms.ChoiceField(choices=PRESETS, required=False, label="Advance by")
    frozen_time = forms.DateTimeField(
        required=False, widget=DATETIME_LOCAL, input_formats=DATETIME_FORMATS, label="Advance to"
    )

    def clean(self):
        data = super().clean()
        if not data.get("preset") and not data.get("frozen_time"):
            raise forms.ValidationError("Pick a step or a time.")
        return data


class AttachForm(forms.Form):
    node = forms.ChoiceField(label="Node")

    def __init__(self, *args, nodes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["node"].choices = [(str(n.pk), n.name) for n in nodes]


class PlatformAdvanceForm(forms.Form):
    seconds = forms.IntegerField(min_value=1, max_value=2 * 366 * 86400, initial=3600)


class PlatformAdvanceToForm(forms.Form):
    """Advance the platform clock to a date and time (in the server's time zone)."""

    to = forms.DateTimeField(
        label="Advance to (date and time)",
        widget=forms.DateTimeInput({"type": "datetime-local", "step": "1"}),
    )
