"""Each command's settings: one pydantic-settings model, filled from the command line, then the
environment (`MCPTASKS_<FIELD>`), then the field's default.

A settings field is a command-line option when its annotation carries an `Option` (help text,
metavar, group). `add_options` turns the fields of a model into argparse arguments, named after the
field (`max_ttl_ms` is `--max-ttl-ms` and `MCPTASKS_MAX_TTL_MS`), whose help ends with the default
and the variable. argparse records only what the command line gives (`default=SUPPRESS`), and
`CommandSettings.load` passes exactly that to the model, so pydantic-settings' own precedence (init
arguments over environment over defaults) is the command's. Validation errors name where the bad
value came from: the option, or the environment variable.

So adding an option is one field on the command's model (and its use in the command). A field
whose name cannot be the option's (`json` shadows `BaseModel.json`) takes it from its alias:
`as_json: … = Field(False, validation_alias=env_name("json"))` is `--json` and `MCPTASKS_JSON`.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Annotated, Any, ClassVar, Final, Literal, Self, get_args, get_origin

from pydantic import BeforeValidator, Field, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from mcptasks.cli.location import default_db, prepare_folder
from mcptasks.observe.logs import LogFormat

#: Prefix of every environment variable the command line reads.
ENV_PREFIX = "MCPTASKS_"
DEFAULT_LOG_LEVEL: Final = "WARNING"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class SettingsError(Exception):
    """A setting's value is invalid; the message names its option or environment variable.

    Reported as one line, `mcptasks: error: …`, with exit status 2 (a usage error, as argparse's).
    """


@dataclasses.dataclass(frozen=True, slots=True)
class Option:
    """How a settings field shows on the command line (the field is no option without one)."""

    #: The help text; the default and the environment variable are appended to it.
    help: str
    #: Placeholder in the usage line (argparse's `metavar`); choices of a `Literal` by default.
    metavar: str | None = None
    #: Key of the argument group in the model's `groups`; None: the command's own options.
    group: str | None = None
    #: A positional argument (`APP`) instead of an `--option`.
    positional: bool = False


def upper(value: Any) -> Any:
    """Before-validator: a string in upper case (`--log-level debug`)."""
    return value.upper() if isinstance(value, str) else value


def lower(value: Any) -> Any:
    """Before-validator: a string in lower case (`--transport HTTP`)."""
    return value.lower() if isinstance(value, str) else value


def words(value: Any) -> Any:
    """Before-validator: `"a b,c"` or `["a b", "c"]` -> `["a", "b", "c"]` (a repeatable option's
    values, or the space- or comma-separated list of its environment variable)."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list | tuple):
        return [word for item in value for word in str(item).replace(",", " ").split()]
    return value


class CommandSettings(BaseSettings):
    """What every command takes: the database and the log level.

    Raises (from `load`): SettingsError naming the option or variable whose value is invalid.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        # An empty variable counts as unset (`MCPTASKS_DEMO=` is not an invalid boolean).
        env_ignore_empty=True,
        # Only the command's own variables are read, so a malformed one fails only that command.
        extra="ignore",
        # `load` passes the command line by field name, also for a field with an alias.
        validate_by_name=True,
        frozen=True,
    )
    #: Argument groups of the command's `--help`: key -> (title, description).
    groups: ClassVar[dict[str, tuple[str, str | None]]] = {}

    #: Checked by `main` before the command runs; a command that checks it itself sets False.
    prepare_db_folder: ClassVar[bool] = True

    db: Annotated[
        str,
        Option(
            "the task database: a SQLite file path, sqlite:///PATH or postgresql://USER:PASSWORD@HOST/NAME; "
            "the default is in the user's data folder, created on first use",
            metavar="PATH_OR_URL",
        ),
    ] = Field(default_factory=default_db)
    log_level: Annotated[
        LogLevel,
        BeforeValidator(upper),
        Option("threshold of the log written to stderr; DEBUG also prints tracebacks of errors"),
    ] = DEFAULT_LOG_LEVEL
    log_format: Annotated[
        LogFormat,
        BeforeValidator(lower),
        Option("text: one line per record, task fields in [..]; json: one JSON object per line"),
    ] = "text"

    @property
    def db_is_default(self) -> bool:
        """Whether the database is the default one (neither `--db` nor `MCPTASKS_DB` was given)."""
        return "db" not in self.model_fields_set

    def prepare_db(self, *, write: bool) -> None:
        """Check the folder of a SQLite database (creating the default one): `location.prepare_folder`.

        Raises: CLIError naming the folder and the fix.
        """
        prepare_folder(self.db, default=self.db_is_default, write=write)

    @classmethod
    def add_options(cls, parser: argparse.ArgumentParser) -> None:
        """Add one argument per `Option` field of this model to `parser`, in field order."""
        groups = {
            key: parser.add_argument_group(title, description)
            for key, (title, description) in cls.groups.items()
        }
        # Grouped options last, so the usage line lists them in the order the help shows them.
        fields = sorted(cls.model_fields.items(), key=lambda item: _group_of(item[1]) is not None)
        for name, field in fields:
            option = _option_of(field)
            if option is not None:
                target = parser if option.group is None else groups[option.group]
                _add_argument(target, name, _public_name(name, field), field, option)

    @classmethod
    def load(cls, args: argparse.Namespace) -> Self:
        """The settings of the parsed command line `args`, with the environment and defaults below it.

        Raises: SettingsError naming the option (`--port`) or variable (`MCPTASKS_PORT`) at fault.
        """
        given = {name: getattr(args, name) for name in cls.model_fields if hasattr(args, name)}
        try:
            return cls(**given)
        except ValidationError as exc:
            raise SettingsError(_describe(cls, exc.errors()[0], given)) from None

    @classmethod
    def option_name(cls, name: str) -> str:
        """How the field `name` is written on the command line: `--max-ttl-ms`, or `APP`."""
        field = cls.model_fields[name]
        option = _option_of(field)
        if option is not None and option.positional:
            return option.metavar or name.upper()
        return "--" + _public_name(name, field).replace("_", "-")

    @classmethod
    def env_name(cls, name: str) -> str:
        """The environment variable of the field `name`: `MCPTASKS_MAX_TTL_MS`."""
        return env_name(_public_name(name, cls.model_fields[name]))


def env_name(name: str) -> str:
    """The environment variable of the option `name`: `MCPTASKS_MAX_TTL_MS`."""
    return ENV_PREFIX + name.upper()


def _public_name(name: str, field: FieldInfo) -> str:
    """The option's name: the field's, or its alias without `MCPTASKS_` (`MCPTASKS_JSON` -> `json`)."""
    alias = field.validation_alias
    if isinstance(alias, str) and alias.upper().startswith(ENV_PREFIX):
        return alias[len(ENV_PREFIX) :].lower()
    return name


def _option_of(field: FieldInfo) -> Option | None:
    return next((item for item in field.metadata if isinstance(item, Option)), None)


def _group_of(field: FieldInfo) -> str | None:
    option = _option_of(field)
    return None if option is None else option.group


def _add_argument(
    target: argparse._ActionsContainer, name: str, public: str, field: FieldInfo, option: Option
) -> None:
    annotation = field.annotation
    kwargs: dict[str, Any] = {"default": argparse.SUPPRESS}
    help = option.help
    if annotation is bool:
        kwargs["action"] = "store_true"
    else:
        if get_origin(annotation) is tuple:
            kwargs["action"] = "append"  # repeatable; `words` splits each value
        choices = get_args(annotation) if get_origin(annotation) is Literal else ()
        kwargs["metavar"] = option.metavar or ("{" + ",".join(choices) + "}" if choices else None)
        default = field.get_default(call_default_factory=True)
        if default not in (None, ()):
            help += f"; default: {default}"
    help = f"{help} (env: {env_name(public)})".replace("%", "%%")
    if option.positional:
        target.add_argument(name, nargs="?", help=help, **kwargs)
    else:
        target.add_argument("--" + public.replace("_", "-"), dest=name, help=help, **kwargs)


def _describe(model: type[CommandSettings], error: ErrorDetails, given: dict[str, Any]) -> str:
    """`--port: input should be …, got 'x'` or `MCPTASKS_PORT: …`: the source, the rule, the value."""
    at = str(error["loc"][0]) if error["loc"] else ""
    # The location is the field's alias when it has one.
    name = next((n for n, f in model.model_fields.items() if at in (n, f.validation_alias)), None)
    if name is None:
        return error["msg"]
    source = model.option_name(name) if name in given else model.env_name(name)
    message = error["msg"][:1].lower() + error["msg"][1:]
    if model.model_fields[name].annotation in (SecretStr, SecretStr | None):
        return f"{source}: {message}"  # never echo a secret
    return f"{source}: {message}, got {error['input']!r}"
