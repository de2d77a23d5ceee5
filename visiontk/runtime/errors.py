"""The runtime's one error: bad input a user can fix (visiontk's CLI prints it as one line, exit 2)."""


class InputError(Exception):
    """An image or video that cannot be read, or outputs that do not fit the metadata."""
