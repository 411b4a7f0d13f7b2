"""Errors that reach a user carry a message meant for them; the CLI prints it without a traceback."""


class HotlineError(Exception):
    """An error with a message that names the input and says what was expected."""


class ConfigError(HotlineError):
    pass


class DatabaseUnavailable(HotlineError):
    pass
