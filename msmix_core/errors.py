"""The one exception type users see.

Every error caused by the user's input (a bad file, an unknown name, a knob out of range)
is raised as :class:`MsmixError` with a message that says what is wrong and how to fix it.
The command line prints that message on one line and exits non-zero; the app shows it with
``st.error``. Anything else that escapes is a bug.
"""


class MsmixError(ValueError):
    """A problem with the user's input, explained in the message."""
