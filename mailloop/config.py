"""Settings: a TOML file, overridden by MAILLOOP_* environment variables.

The key names here are a public interface (users' configuration files depend on
them): add new keys beside them, never rename.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_ENV = "MAILLOOP_CONFIG"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key, value and expectation."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rep(_Section):
    """A representative customers may praise by name."""

    name: str
    email: str
    aliases: list[str] = Field(default_factory=list)
    opt_out: bool = False  # left out of the published ranking (still counted)


class Manager(_Section):
    name: str
    email: str


class TopicRule(_Section):
    name: str
    keywords: list[str] = Field(default_factory=list)
    description: str = ""


TlsMode = Literal["implicit", "starttls", "none"]


class MailboxConfig(_Section):
    kind: Literal["maildir", "imap"] = "maildir"
    path: str | None = None  # maildir: default <state_dir>/inbox
    host: str = "localhost"
    port: int | None = None  # default 993 (implicit) or 143
    tls: TlsMode = "implicit"
    verify_tls: bool = True
    allow_plaintext_loopback: bool = False  # tls = "none" is refused unless this is set
    username: str = ""
    password: SecretStr | None = None
    password_command: str | None = None
    oauth2_token_command: str | None = None
    folder: str = "INBOX"
    poll_interval: float = Field(default=60.0, gt=0)  # seconds, when IDLE is not offered
    idle_timeout: float = Field(default=600.0, gt=0)  # re-issue IDLE well inside 29 minutes
    batch_size: int = Field(default=500, ge=1)
    move_processed: dict[str, str] = Field(default_factory=dict)  # tag -> folder
    flag_processed: str | None = None


class SentFolderConfig(_Section):
    """The IMAP folder holding copies of sent replies (see docs/delivery.md)."""

    folder: str = "Sent"  # "[Gmail]/Sent Mail" on Gmail, "Sent Items" on Microsoft 365
    append: bool = False  # append a copy of each reply (off: the server files its own)
    host: str | None = None  # default: the [mailbox] IMAP account (mailbox.kind = "imap")
    port: int | None = None  # default 993 (implicit) or 143
    tls: TlsMode = "implicit"
    verify_tls: bool = True
    allow_plaintext_loopback: bool = False
    username: str = ""
    password: SecretStr | None = None
    password_command: str | None = None
    oauth2_token_command: str | None = None


class DeliveryConfig(_Section):
    kind: Literal["maildir", "smtp"] = "maildir"
    path: str | None = None  # maildir: default <state_dir>/outbox
    host: str = "localhost"
    port: int | None = None  # default 465 (implicit), 587 (starttls) or 25
    tls: TlsMode = "starttls"
    verify_tls: bool = True
    username: str = ""
    password: SecretStr | None = None
    password_command: str | None = None
    oauth2_token_command: str | None = None
    from_address: str = "feedback@example.com"
    from_name: str = "Customer Care"
    reply_to: str | None = None
    # Acknowledgements carry a signed conversation token in their Reply-To
    # (feedback+c.TOKEN@...), so an answer threads even with a changed subject.
    reply_tokens: bool = True
    connections: int = Field(default=1, ge=1, le=32)
    max_attempts: int = Field(default=8, ge=1)
    retry_base: float = Field(default=60.0, gt=0)  # seconds; doubles per attempt
    retry_cap: float = Field(default=3600.0, gt=0)
    timeout: float = Field(default=30.0, gt=0)
    verp: bool = True  # envelope sender feedback+b.<reply>@...: bounces name their reply
    sent_folder: SentFolderConfig | None = None


class StoreConfig(_Section):
    kind: Literal["tinydb", "postgres"] = "tinydb"
    path: str | None = None  # default <state_dir>/mailloop.json
    segment_size: int = Field(default=1000, ge=10)  # documents per store file
    dsn: SecretStr | None = None  # postgres: "postgresql://user:password@host/db"

    @model_validator(mode="after")
    def _check_dsn(self) -> StoreConfig:
        if self.kind == "postgres" and not (self.dsn and self.dsn.get_secret_value().strip()):
            raise ValueError("store.kind = 'postgres' needs store.dsn, "
                             "e.g. \"postgresql://mailloop:secret@db.example/mailloop\"")
        return self


class TemplatesConfig(_Section):
    path: str = "templates"
    default_locale: str = "en"
    fallback: dict[str, str] = Field(default_factory=dict)  # e.g. {"fr-CA": "fr"}
    test_recipients: list[str] = Field(default_factory=list)  # send-test may mail these too


class ClassifierConfig(_Section):
    # below this confidence a person reviews the message
    review_below: float = Field(default=0.6, ge=0.0, le=1.0)


class PipelineConfig(_Section):
    """How a batch is processed."""

    # Worker processes that parse, screen and classify a large batch ahead of the
    # daemon (0: all in the daemon's own process). Each takes about 45 MB.
    workers: int = Field(default=0, ge=0, le=64)


class ScreeningConfig(_Section):
    max_acks_per_sender_per_day: int = Field(default=3, ge=1)
    max_replies_per_hour: int = Field(default=500, ge=1)  # the global brake
    noreply_patterns: list[str] = Field(
        default_factory=lambda: ["noreply", "no-reply", "donotreply", "do-not-reply"]
    )


class StaffConfig(_Section):
    """Managers and staff answering by email."""

    # One shared address for Smile notifications instead of one per manager; any
    # configured manager may then answer from their own address.
    managers_address: str | None = None
    token_days: int = Field(default=30, ge=1)  # how long a notification can be answered
    notify_rep: bool = True  # send the rep a recognition note with the thank-you
    confirm: bool = True  # tell the manager what was sent
    # Also require a passing DKIM/DMARC Authentication-Results header added by the
    # receiving server named here (its authserv-id), not one the sender wrote.
    require_authentication_results: bool = False
    authserv_id: str = ""
    # Who gets OforA notifications for a message whose topic no [[ofora_staff]] team
    # covers ("Name <address>" or an address); empty: nobody.
    ofora_default: list[str] = Field(default_factory=list)


class OforaStaff(_Section):
    """The staff who answer OforAs about one topic, by email."""

    topic: str
    emails: list[str]  # "Name <address>" or an address


Stage = Literal["acknowledged", "moved", "fixed", "boosted"]


def _default_targets() -> dict[Stage, str]:
    return {"acknowledged": "5m", "moved": "48h"}


class LoopConfig(_Section):
    """Closing the loop on OforAs: stage targets, outcome window, second chances."""

    # A Smile from the customer within this many days of a second chance (or of their
    # OforA, for the critic-to-champion rate) makes them a champion; no answer within
    # it is `no_answer`.
    champion_window_days: int = Field(default=30, ge=1)
    # Targets per stage, e.g. { acknowledged = "5m", moved = "48h" }: units s, m, h, d.
    # acknowledged, moved and fixed count from `listened`; boosted from `fixed`.
    targets: dict[Stage, str] = Field(default_factory=_default_targets)
    # No second chance to a customer who got one (for any problem) in these many days.
    followup_quiet_days: int = Field(default=14, ge=0)
    followup_per_minute: int = Field(default=60, ge=1)  # the campaign's rate limit

    @model_validator(mode="after")
    def _check_targets(self) -> LoopConfig:
        for stage, value in self.targets.items():
            try:
                parse_duration(value)
            except ValueError as exc:
                raise ValueError(f"loop.targets.{stage} = {value!r}: {exc}") from None
        return self


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str) -> float:
    """Seconds in "90s", "5m", "48h", "7d"."""
    text = value.strip().lower()
    if len(text) < 2 or text[-1] not in _UNITS:
        raise ValueError("expected a number and a unit: s, m, h or d (e.g. \"48h\")")
    try:
        number = float(text[:-1])
    except ValueError:
        raise ValueError("expected a number and a unit: s, m, h or d (e.g. \"48h\")") from None
    if number < 0:
        raise ValueError("a target cannot be negative")
    return number * _UNITS[text[-1]]


class Rule(_Section):
    """When the tags match, do these actions. The first matching rule wins."""

    when: Literal["smile", "ofora", "both", "neither", "review", "any"]
    acknowledge: str | None = None  # template name
    notify_managers: bool = False  # send managers a Smile notification they can answer
    notify_staff: bool = False  # send the topic's staff an OforA notification they can answer


def _default_rules() -> list[Rule]:
    return [
        Rule(when="review", acknowledge="ack_neutral"),
        Rule(when="both", acknowledge="ack_ofora", notify_managers=True, notify_staff=True),
        Rule(when="ofora", acknowledge="ack_ofora", notify_staff=True),
        Rule(when="smile", acknowledge="ack_smile", notify_managers=True),
        Rule(when="neither", acknowledge="ack_neutral"),
    ]


class MetricsConfig(_Section):
    """The Prometheus endpoint (needs the `metrics` extra: prometheus-client)."""

    enabled: bool = False
    address: str = "127.0.0.1"  # loopback unless told otherwise
    port: int = Field(default=9464, ge=1, le=65535)


class RetentionConfig(_Section):
    """How long message bodies are kept; tags, credits, topics and counts are kept for good."""

    body_days: int = Field(default=365, ge=0)  # 0: keep bodies for good


class NewsletterConfig(_Section):
    """The monthly newsletter: Smiles per rep, the best quotes, the OforA topics."""

    to: list[str] = Field(default_factory=list)  # the addresses it goes to
    # the day of the following month the daemon sends it (0: only `mailloop newsletter --send`)
    send_day: int = Field(default=0, ge=0, le=28)
    send_hour: int = Field(default=9, ge=0, le=23)  # local hour (in `timezone`) on that day
    team_mode: bool = False  # no rep names: the team's Smiles only
    template: str = "newsletter"
    quotes_per_rep: int = Field(default=3, ge=0, le=10)


class DigestConfig(_Section):
    """A digest of one period's messages, by tag and/or topic, to a team address."""

    name: str  # stable: part of the once-per-period record id
    to: list[str]
    every: Literal["daily", "weekly"] = "daily"
    tags: list[Literal["smile", "ofora"]] = Field(default_factory=list)  # any of; empty: all
    topics: list[str] = Field(default_factory=list)  # any of; empty: all
    send_hour: int = Field(default=8, ge=0, le=23)  # local hour the previous period goes out
    template: str = "digest"


class CompanyConfig(_Section):
    name: str = "Example Co."
    website: str = ""
    signature: str = "The Customer Care team"


class Settings(BaseSettings):
    """Everything mailloop can be told. See config.example.toml for each key."""

    model_config = SettingsConfigDict(
        env_prefix="MAILLOOP_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    state_dir: str = "var"
    timezone: str = "UTC"
    secret: SecretStr | None = None  # signs reply-address tokens; generated into state_dir if unset
    company: CompanyConfig = CompanyConfig()
    mailbox: MailboxConfig = MailboxConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    store: StoreConfig = StoreConfig()
    templates: TemplatesConfig = TemplatesConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    screening: ScreeningConfig = ScreeningConfig()
    pipeline: PipelineConfig = PipelineConfig()
    staff: StaffConfig = StaffConfig()
    metrics: MetricsConfig = MetricsConfig()
    retention: RetentionConfig = RetentionConfig()
    reps: list[Rep] = Field(default_factory=list)
    managers: list[Manager] = Field(default_factory=list)
    ofora_staff: list[OforaStaff] = Field(default_factory=list)
    loop: LoopConfig = LoopConfig()
    topics: list[TopicRule] = Field(default_factory=list)
    rules: Annotated[list[Rule], Field(default_factory=_default_rules)]
    newsletter: NewsletterConfig = NewsletterConfig()
    digests: list[DigestConfig] = Field(default_factory=list)
    base_dir: str = "."  # the folder relative paths are resolved against (the config's folder)

    @model_validator(mode="after")
    def _check_transports(self) -> Settings:
        if self.mailbox.kind == "imap" and self.mailbox.tls == "none" and not (
            self.mailbox.allow_plaintext_loopback and _is_loopback(self.mailbox.host)
        ):
            raise ValueError(
                "mailbox.tls = 'none' sends the password in clear: allowed only with "
                "mailbox.allow_plaintext_loopback = true and a loopback host"
            )
        sent = self.delivery.sent_folder
        if sent is not None and sent.host is None and self.mailbox.kind != "imap":
            raise ValueError("delivery.sent_folder: set its host and username, or use an "
                             "IMAP mailbox (mailbox.kind = 'imap') whose account it shares")
        if sent is not None and sent.host is not None and sent.tls == "none" and not (
                sent.allow_plaintext_loopback and _is_loopback(sent.host)):
            raise ValueError("delivery.sent_folder.tls = 'none' sends the password in clear: "
                             "allowed only with allow_plaintext_loopback = true and a "
                             "loopback host")
        if "@" not in self.delivery.from_address:
            raise ValueError(
                f"delivery.from_address = {self.delivery.from_address!r}: expected an email address"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file (the file's values come in as init kwargs).
        return (env_settings, init_settings)

    # Paths resolved against the configuration file's folder.

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p

    @property
    def state_path(self) -> Path:
        return self.resolve(self.state_dir)

    @property
    def inbox_path(self) -> Path:
        return self.resolve(self.mailbox.path) if self.mailbox.path else self.state_path / "inbox"

    @property
    def outbox_path(self) -> Path:
        if self.delivery.path:
            return self.resolve(self.delivery.path)
        return self.state_path / "outbox"

    @property
    def store_path(self) -> Path:
        if self.store.path:
            return self.resolve(self.store.path)
        return self.state_path / "mailloop.json"

    @property
    def templates_path(self) -> Path:
        return self.resolve(self.templates.path)


def _is_loopback(host: str) -> bool:
    return host in {"localhost", "::1"} or host.startswith("127.")


def _describe_error(err: Any) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid"))
    if kind == "extra_forbidden":
        return f"{loc}: unknown key (check the spelling against config.example.toml)"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    value = err.get("input")
    if isinstance(value, dict):
        return f"{loc}: {msg}"
    return f"{loc} = {value!r}: {msg.lower()}"


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read the TOML file (if any) and the environment into Settings.

    Raises ConfigError with one line per problem, each naming the key, the bad
    value and what is expected.
    """
    data: dict[str, Any] = {}
    chosen = path or os.environ.get(CONFIG_ENV)
    source = "configuration"
    if chosen:
        file = Path(chosen)
        source = str(file)
        try:
            with file.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"{file}: no such configuration file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        data.setdefault("base_dir", str(file.resolve().parent))
    data.update(overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        lines = [_describe_error(e) for e in exc.errors()]
        raise ConfigError(f"{source}: " + "; ".join(lines)) from None
