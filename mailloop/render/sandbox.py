"""The environment every template runs in: an immutable sandbox with budgets.

- Jinja2's ImmutableSandboxedEnvironment (3.1.6 or newer, checked at import):
  no underscore attributes, no mutating methods, the sandboxed `str.format`.
- StrictUndefined: an unknown name or attribute is an error, never "".
- Only the names of the context: the default globals (`cycler`, `joiner`,
  `lipsum`, `namespace`, `dict`) are removed, and so are the filters that could
  bypass escaping (`safe`) or make a render differ between preview and send
  (`random`).
- A size budget: `*` and `**`, every filter and every method call refuse
  numbers and results larger than a mail could need.
- A time budget: `Deadline` interrupts a render that runs too long (see
  docs/templates.md, "Why a render cannot hang the daemon").
- Dates and numbers are formatted for the template's locale with Babel.
"""

from __future__ import annotations

import ctypes
import functools
import re
import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime
from types import TracebackType
from typing import Any

import jinja2
import jinja2.nodes
import jinja2.runtime
from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_decimal, format_percent
from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

MAX_OUTPUT = 200_000  # characters one value, filter result or rendered part may have
MAX_NUMBER = 10_000  # the largest width/count a filter or method may be given
RENDER_SECONDS = 2.0  # the time budget of one render
REMOVED_GLOBALS = ("cycler", "joiner", "lipsum", "namespace", "dict")
REMOVED_FILTERS = ("safe", "random", "pprint")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~&])")


def require_safe_jinja() -> None:
    major, minor, patch = (int(p) for p in re.findall(r"\d+", jinja2.__version__)[:3])
    if (major, minor, patch) < (3, 1, 6):
        raise RuntimeError(f"Jinja2 {jinja2.__version__} has known sandbox escapes: "
                           "mailloop needs 3.1.6 or newer")


require_safe_jinja()


class RenderTimeout(Exception):
    """A render ran past its time budget."""


def _check_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
            raise SecurityError(f"number {value} is too large for a template")
        if isinstance(value, str) and re.search(r"%[-+ #0]*\d{5,}|\{[^}]*:[^}]*\d{5,}", value):
            raise SecurityError("format width too large for a template")


def _check_result(value: Any) -> Any:
    if isinstance(value, str | list | tuple) and len(value) > MAX_OUTPUT:
        raise SecurityError("result too large for a template")
    return value


def _budgeted(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _check_args(args[1:] if args and _is_env(args[0]) else args, kwargs)
        return _check_result(func(*args, **kwargs))

    return wrapper


def _is_env(value: Any) -> bool:
    return isinstance(value, jinja2.Environment | jinja2.runtime.Context | jinja2.nodes.EvalContext)


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with a size budget on operators, calls and filters."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > 100:
                raise SecurityError("exponent too large for a template")
            return _check_result(left**right)
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int) and (
                    len(seq) * count > MAX_OUTPUT):
                raise SecurityError("repetition too large for a template")
        return left * right

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_args(args, kwargs)
        return _check_result(super().call(__context, __obj, *args, **kwargs))


def markdown_escape(value: Any) -> str:
    """Escape a value for the Markdown source, so it renders as the literal text.

    Everything is escaped, `Markup` included: in a Markdown template no value may
    turn into markup.
    """
    if value is None:
        return ""
    return _MD_SPECIAL.sub(r"\\\1", str(value))


def _babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def _locale_filters(locale: str) -> dict[str, Callable[..., Any]]:
    loc = _babel_locale(locale)

    def date_filter(value: date | datetime | None, format: str = "long") -> str:
        if value is None:
            return ""
        return format_date(value, format=format, locale=loc)

    def datetime_filter(value: datetime | None, format: str = "medium") -> str:
        if value is None:
            return ""
        return format_datetime(value, format=format, tzinfo=value.tzinfo, locale=loc)

    def time_filter(value: datetime | None, format: str = "short") -> str:
        if value is None:
            return ""
        return format_time(value, format=format, tzinfo=value.tzinfo, locale=loc)

    def number_filter(value: float | int, format: str | None = None) -> str:
        return format_decimal(value, format=format, locale=loc)

    def percent_filter(value: float | int) -> str:
        return format_percent(value, locale=loc)

    return {"date": date_filter, "datetime": datetime_filter, "time": time_filter,
            "number": number_filter, "percent": percent_filter}


def environment(locale: str, *, mode: str) -> BudgetedSandbox:
    """The environment for one locale. mode: "markdown" (every value escaped for
    Markdown), "html" (HTML autoescape) or "plain" (values inserted as they are:
    the subject line, made safe afterwards by `one_line`)."""
    env = BudgetedSandbox(
        undefined=StrictUndefined,
        autoescape=mode == "html",
        keep_trailing_newline=True,
        finalize=markdown_escape if mode == "markdown" else None,
    )
    for name in REMOVED_GLOBALS:
        env.globals.pop(name, None)
    env.globals["range"] = _range
    for name in REMOVED_FILTERS:
        env.filters.pop(name, None)
    env.filters.update(_locale_filters(locale))
    env.filters["one_line"] = _squash
    for name, func in list(env.filters.items()):
        env.filters[name] = _budgeted(func)
    return env


def _squash(value: object) -> str:
    """`{{ words|one_line }}`: every run of whitespace and line breaks -> one space."""
    return " ".join(str(value).split())


def _range(*args: int) -> Iterator[int]:
    _check_args(args, {})
    return iter(range(*args))


def escape_html(value: Any) -> Markup:
    return Markup.escape(value)


class Deadline:
    """Interrupts the current thread with RenderTimeout after `seconds`.

    A timer thread raises the exception asynchronously into the rendering thread
    (CPython's PyThreadState_SetAsyncExc): the compiled template is Python
    bytecode, so the exception lands at the next instruction of even a tight
    loop, and the thread goes on serving the next message.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._state = "idle"
        self._thread_id = 0
        self._timer: threading.Timer | None = None

    def __enter__(self) -> Deadline:
        self._thread_id = threading.get_ident()
        self._state = "running"
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _fire(self) -> None:
        with self._lock:
            if self._state == "running":
                _async_raise(self._thread_id, RenderTimeout)
                self._state = "fired"

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            fired = self._state == "fired"
            self._state = "done"
        if fired:  # the exception may not have landed yet: withdraw it
            _async_raise(self._thread_id, None)


def _async_raise(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None)
