"""The ``twinlab`` command's one error policy, on its root group.

* A user mistake (:data:`USER_ERRORS`: a missing or invalid file, an unknown parameter,
  invalid data, a refused permission) ends with one ``Error: ...`` line on stderr and exit
  status 2 (:class:`UserError`), as click's own usage errors do; so does a full disk or a
  read-only file system (:data:`ENVIRONMENT_ERRNOS`).
* A check that ran and failed (the validation gate, an audit log that does not verify, PHI
  found in the outputs) is a :class:`click.ClickException` raised by the command: exit 1.
* Anything else is a bug: one ``Error: internal error ...`` line and exit 1, or the
  traceback with ``twinlab --debug``.
"""

from __future__ import annotations

import errno
import importlib
from typing import Any

import click

__all__ = [
    "ENVIRONMENT_ERRNOS",
    "LAZY_COMMANDS",
    "USER_ERRORS",
    "RootGroup",
    "UserError",
    "user_errors",
]

#: Exceptions that are the user's to fix, reported in one line (``ConfigError`` and
#: ``NonmemDataError`` are ``ValueError``).
USER_ERRORS: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    ValueError,
    KeyError,
)

#: Commands imported only when called or listed (``serve`` needs the dashboards' package;
#: ``api`` is optional): name -> ``module:attribute``.
LAZY_COMMANDS: dict[str, str] = {"api": "twinlab.api.cli:api", "serve": "twinlab.cli.apps:serve"}


class UserError(click.ClickException):
    """A user mistake: ``Error: <message>`` on stderr, exit status 2."""

    exit_code = 2


def user_errors() -> tuple[type[BaseException], ...]:
    """:data:`USER_ERRORS` and the domain errors that are the user's to fix."""
    from twinlab.audit.log import AuditLogError
    from twinlab.notebooks import NotebookError
    from twinlab.pipeline.guard import PipelineLockedError

    return (*USER_ERRORS, NotebookError, AuditLogError, PipelineLockedError)


#: Errors of the machine, not of the program: a full disk or quota, a read-only file system.
#: They end like a user mistake, with what to do.
ENVIRONMENT_ERRNOS: dict[int, str] = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the file system is read-only",
    errno.EFBIG: "a file grew past the size allowed (file size limit or file system)",
}


def _environment_message(err: OSError) -> str:
    where = f" ({err.filename})" if err.filename else ""
    return f"{ENVIRONMENT_ERRNOS[err.errno]}{where}: free space or write elsewhere"


def _message(err: BaseException) -> str:
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    return str(err) or type(err).__name__


class RootGroup(click.Group):
    """The root group: the error policy of the module docstring, and lazy optional groups."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except user_errors() as err:
            if ctx.find_root().params.get("debug"):
                raise
            raise UserError(_message(err)) from None
        except OSError as err:
            if ctx.find_root().params.get("debug") or err.errno not in ENVIRONMENT_ERRNOS:
                raise
            raise UserError(_environment_message(err)) from None
        except Exception as err:
            if ctx.find_root().params.get("debug"):
                raise
            raise click.ClickException(
                f"internal error ({type(err).__name__}: {_message(err)}); "
                "run 'twinlab --debug ...' for the traceback and report it"
            ) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        lazy = [name for name in LAZY_COMMANDS if self._lazy(name) is not None]
        return sorted({*super().list_commands(ctx), *lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in LAZY_COMMANDS:
            found = self._lazy(cmd_name)
        return found

    @staticmethod
    def _lazy(name: str) -> click.Command | None:
        """The lazily attached command ``name``, or ``None`` when its package is absent."""
        module, _, attribute = LAZY_COMMANDS[name].partition(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except ModuleNotFoundError as err:
            if err.name and module.startswith(err.name):
                return None  # the optional package is not installed (yet)
            raise
