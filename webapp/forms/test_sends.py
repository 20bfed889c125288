"""The form of the composer's "Send a test"."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField


class TestSendForm(FlaskForm):
    """The numbers a test goes to, as typed; read and bounded by webapp.domain.test_sends
    (no ``maxlength``: a longer entry is refused with a reason, not cut)."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    numbers = StringField(
        _l("Send the test to"),
        id="test-numbers",
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        render_kw={"inputmode": "tel", "autocomplete": "tel", "spellcheck": "false"},
    )
