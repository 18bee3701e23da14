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
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
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
_MD_SPECIAL = re.compile(r"[\\`*_{}\[\]()#+\-.!<>|~&]")
_DICT_ATTRIBUTES = frozenset(dir(dict))


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


_ENV_TYPES = (jinja2.Environment, jinja2.runtime.Context, jinja2.nodes.EvalContext)


def _is_env(value: Any) -> bool:
    return isinstance(value, _ENV_TYPES)  # a tuple: a union is checked several times slower


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with a size budget on operators, calls and filters."""

    intercepted_binops = frozenset({"*", "**"})

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        # A plain dict, not Jinja's ChainMap over the environment's globals: a render
        # copies the globals twice, and a ChainMap copies several times slower. Nothing
        # changes an environment's globals after `environment()` made it.
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        # The context's values are plain dicts, and the sandbox tries the attribute
        # first, failing with an AttributeError for every `customer.first_name`. Same
        # order, same result: a key is taken directly when dict has no such attribute.
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

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
    text = str(value)
    return _MD_SPECIAL.sub(_backslash, text) if _MD_SPECIAL.search(text) else text


def _backslash(match: re.Match[str]) -> str:
    return "\\" + match.group()


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

    A watchdog thread raises the exception asynchronously into the rendering thread
    (CPython's PyThreadState_SetAsyncExc): the compiled template is Python
    bytecode, so the exception lands at the next instruction of even a tight
    loop, and the thread goes on serving the next message. One watchdog serves
    every deadline, so a render does not start a thread of its own.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._state = "idle"
        self._thread_id = 0

    def __enter__(self) -> Deadline:
        self._thread_id = threading.get_ident()
        self._state = "running"
        _WATCHDOG.watch(self, time.monotonic() + self.seconds)
        return self

    def _fire(self) -> None:
        with self._lock:
            if self._state == "running":
                _async_raise(self._thread_id, RenderTimeout)
                self._state = "fired"

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        _WATCHDOG.forget(self)
        with self._lock:
            fired = self._state == "fired"
            self._state = "done"
        if fired:  # the exception may not have landed yet: withdraw it
            _async_raise(self._thread_id, None)


class _Watchdog:
    """One daemon thread that fires the deadlines that run out."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._watched: dict[int, tuple[float, Deadline]] = {}
        self._thread: threading.Thread | None = None
        self._wake_at = 0.0  # when the watchdog next looks by itself (inf: only when told)

    def watch(self, deadline: Deadline, at: float) -> None:
        with self._cond:
            self._watched[id(deadline)] = (at, deadline)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="mailloop-render-deadline",
                                                daemon=True)
                self._thread.start()
            if at < self._wake_at:  # else the watchdog wakes in time on its own
                self._cond.notify()

    def forget(self, deadline: Deadline) -> None:
        with self._cond:
            self._watched.pop(id(deadline), None)

    def _run(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due = [d for at, d in self._watched.values() if at <= now]
                for d in due:
                    self._watched.pop(id(d), None)
                if not due:
                    nearest = min((at for at, _ in self._watched.values()), default=None)
                    self._wake_at = math.inf if nearest is None else nearest
                    self._cond.wait(None if nearest is None else nearest - now)
                    self._wake_at = 0.0
                    continue
            for d in due:
                d._fire()


_WATCHDOG = _Watchdog()


def _async_raise(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None)
