"""The node configuration: one typed model, validated at start-up.

A YAML file (``--config node.yaml``) is merged over the embedded defaults, then environment variables
override single keys: ``DICOM_NODE__NODE__PORT=11113`` sets ``node.port`` (path segments joined by
double underscores, values parsed as YAML scalars/lists). Any unknown key or bad value stops the start
with a :class:`~dicom_node.errors.ConfigError` that names the key path and the reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from anonymizer.settings import AnonymizerSettings
from dicom_node.config_dicomweb import DicomWebDestinationConfig, StowConfig
from dicom_node.config_query import PriorsConfig, QueryConfig
from dicom_node.config_study import StudyRuleConfig
from dicom_node.config_types import AETitle, TLSConfig, _Strict
from dicom_node.errors import ConfigError
from dicom_node.routing.conditions import parse_condition

ENV_PREFIX = "DICOM_NODE__"


class AllowedPeer(_Strict):
    ae_title: AETitle
    host: str | None = None


class NodeConfig(_Strict):
    ae_title: AETitle = "AI_NODE"
    bind: str = "0.0.0.0"
    port: int = Field(default=11112, ge=0, le=65535)
    allowed_calling_aets: list[AllowedPeer] = Field(
        default_factory=list,
        description="empty = any caller; entries 'AET' or 'AET@host' or {ae_title, host}",
    )
    max_associations: int = Field(default=16, ge=1, le=1000, description="per receiver process")
    receiver_processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="processes accepting associations on node.port (one listening socket, shared): "
        "ingest is CPU-bound in one Python process, so more processes use more cores",
    )
    require_called_ae: bool = Field(
        default=False, description="reject associations whose called AE title is not node.ae_title"
    )
    acse_timeout_s: float = Field(default=30, gt=0)
    dimse_timeout_s: float = Field(default=60, gt=0)
    network_timeout_s: float = Field(default=120, gt=0)
    maximum_pdu_size: int = Field(default=0, ge=0, description="0 = unlimited")
    tls: TLSConfig | None = None

    @field_validator("allowed_calling_aets", mode="before")
    @classmethod
    def _peers(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        peers: list[Any] = []
        for item in value:
            if isinstance(item, str):
                title, _, host = item.partition("@")
                peers.append({"ae_title": title, "host": host or None})
            else:
                peers.append(item)
        return peers


class StorageConfig(_Strict):
    path: Path = Path("./var")
    database: str | None = Field(default=None, description="SQLAlchemy URL; default sqlite in path")
    min_free_gb: float = Field(
        default=1.0, ge=0, description="below this free space new associations and stores are refused"
    )
    fsync: bool = Field(default=True, description="fsync files and directories before acknowledging")

    @property
    def database_url(self) -> str:
        if self.database:
            return self.database
        return f"sqlite:///{(self.path / 'ledger.db').as_posix()}"


class SeriesConfig(_Strict):
    complete_after_s: float = Field(default=30, gt=0)
    late_instances: Literal["reprocess", "ignore"] = "reprocess"
    check_interval_s: float = Field(default=1.0, gt=0)


class DestinationConfig(_Strict):
    """A DIMSE archive (C-STORE; optionally Storage Commitment)."""

    type: Literal["dimse"] = "dimse"
    host: str
    port: int = Field(ge=1, le=65535)
    ae_title: AETitle
    calling_ae_title: AETitle | None = Field(default=None, description="default: node.ae_title")
    tls: TLSConfig | None = None
    timeout_s: float = Field(default=30, gt=0)
    source_aets: list[AETitle] = Field(
        default_factory=list,
        description="calling AE titles this destination stands for as the source of a series (besides its "
        "own ae_title): outputs that show the source's pixels (photographs) go back only to the source",
    )
    storage_commitment: bool = Field(
        default=False,
        description="after sending, request Storage Commitment (N-ACTION) and count an object delivered "
        "only once the archive reports it committed (N-EVENT-REPORT to this node's SCP)",
    )
    commitment_timeout_s: float = Field(
        default=300, gt=0, description="no report this long after a request: ask again"
    )
    query: QueryConfig | None = Field(
        default=None, description="the destination is also an archive to query (C-FIND) and retrieve from"
    )


def _destination_type(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("type", "dimse"))
    return str(getattr(value, "type", "dimse"))


DESTINATION_TYPES = ("dimse", "dicomweb")
AnyDestination = Annotated[
    Annotated[DestinationConfig, Tag("dimse")] | Annotated[DicomWebDestinationConfig, Tag("dicomweb")],
    Discriminator(_destination_type),
]


class RuleConfig(_Strict):
    """One routing rule. ``match`` is parsed into typed conditions at validation time."""

    name: str = Field(min_length=1)
    match: dict[str, Any] = Field(default_factory=dict)
    pipeline: str | None = None
    send_to: list[str] = Field(default_factory=list)
    anonymize: str | None = None
    deidentify: str | None = None
    discard: bool = False
    stop: bool = False
    fallback: bool = False
    priors: PriorsConfig | None = None

    @field_validator("match")
    @classmethod
    def _parse_match(cls, value: dict[str, Any]) -> dict[str, Any]:
        parse_condition(value)  # raises ValueError naming the offending key
        return value

    @model_validator(mode="after")
    def _actions(self) -> RuleConfig:
        if not (self.pipeline or self.send_to or self.discard):
            raise ValueError("a rule needs an action: pipeline, send_to or discard")
        if self.discard and (self.pipeline or self.send_to or self.anonymize):
            raise ValueError("discard cannot be combined with pipeline, send_to or anonymize")
        if self.anonymize and self.pipeline:
            raise ValueError("anonymize applies to forwarded originals; use deidentify with a pipeline")
        if (self.deidentify or self.priors) and not self.pipeline:
            raise ValueError("deidentify and priors need a pipeline")
        if self.deidentify and self.priors:  # the priors would reach the pipeline with the patient's identity
            raise ValueError("priors cannot be combined with deidentify (the priors are not pseudonymised)")
        if self.anonymize and not self.send_to:
            raise ValueError("anonymize needs send_to")
        return self


class PipelineSettings(_Strict):
    bundle: Path | None = Field(default=None, description="MONAI bundle directory; None = built-in weights")
    timeout_s: float = Field(default=1800, gt=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    params: dict[str, Any] = Field(default_factory=dict)


class DispatchConfig(_Strict):
    max_attempts: int = Field(default=8, ge=1)
    backoff_initial_s: float = Field(default=2.0, gt=0)
    backoff_max_s: float = Field(default=300.0, gt=0)
    batch_size: int = Field(default=200, ge=1, description="objects sent per association")


BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp", "sentinel")


class ExecutionConfig(_Strict):
    """Where jobs run: ``local`` threads in ``serve``, or ``celery`` workers (``dicom-node worker``)."""

    backend: Literal["local", "celery"] = "local"
    workers: int = Field(default=1, ge=1, le=64, description="local job threads")
    broker: SecretStr | None = Field(
        default=None, description="celery: broker URL, redis://host:6379/0 or amqp://user:pw@host//"
    )
    lease_s: float = Field(default=120, gt=0, description="a job whose lease expired is resumed")
    requeue_after_s: float = Field(
        default=60, gt=0, description="celery: a job still due this long after its message is re-sent"
    )
    visibility_timeout_s: float = Field(
        default=7200,
        gt=0,
        description="celery on Redis: an unacknowledged message is redelivered after this; keep it above "
        "the longest pipeline timeout",
    )

    @field_validator("broker")
    @classmethod
    def _broker_for_celery(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            value = None
        if value is None:
            if info.data.get("backend") == "celery":
                raise ValueError("required when execution.backend is celery (a redis:// or amqp:// URL)")
            return None
        scheme = value.get_secret_value().partition("://")[0].lower()
        if scheme not in BROKER_SCHEMES:  # never echo the URL: it may hold a password
            raise ValueError(f"unsupported broker scheme {scheme!r}; use one of {', '.join(BROKER_SCHEMES)}")
        return value


class LoggingConfig(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"
    file: Path | None = None


class WebConfig(_Strict):
    """The operations web server: dashboard, REST API, /metrics, /healthz, /readyz."""

    enabled: bool = True
    bind: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535, description="0 = any free port (logged at start)")
    show_phi: bool = Field(default=False, description="show patient name, ID and birth date on pages")
    tokens: list[SecretStr] = Field(
        default_factory=list, description="API tokens for actions (Authorization: Bearer <token>)"
    )
    users: dict[str, SecretStr] = Field(
        default_factory=dict, description="login name -> argon2 or bcrypt password hash (never a password)"
    )
    tls: TLSConfig | None = Field(default=None, description="serve https (PEM files)")
    stow: StowConfig = Field(default_factory=StowConfig)

    @model_validator(mode="after")
    def _certificate_clients(self) -> WebConfig:
        if any(c.client_certificate for c in self.stow.clients) and not (
            self.tls and self.tls.require_client_cert and self.tls.ca
        ):
            raise ValueError(
                "stow.clients: client_certificate needs web.tls with ca and require_client_cert: true"
            )
        return self

    @field_validator("tokens")
    @classmethod
    def _long_tokens(cls, value: list[SecretStr]) -> list[SecretStr]:
        for i, token in enumerate(value):
            if len(token.get_secret_value()) < 16:
                raise ValueError(f"tokens[{i}]: a token needs at least 16 characters")
        return value

    @field_validator("users")
    @classmethod
    def _hashed(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, secret in value.items():
            if not secret.get_secret_value().startswith(("$argon2", "$2a$", "$2b$", "$2y$")):
                raise ValueError(f"{name}: give an argon2 or bcrypt hash, never a plain password")
        return value


class Config(_Strict):
    node: NodeConfig = Field(default_factory=NodeConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    series: SeriesConfig = Field(default_factory=SeriesConfig)
    destinations: dict[str, AnyDestination] = Field(default_factory=dict)
    rules: list[RuleConfig] = Field(default_factory=list)
    study_rules: list[StudyRuleConfig] = Field(default_factory=list)
    pipelines: dict[str, PipelineSettings] = Field(default_factory=dict)
    anonymizer: AnonymizerSettings = Field(default_factory=AnonymizerSettings)
    dispatch: DispatchConfig = Field(default_factory=DispatchConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    web: WebConfig = Field(default_factory=WebConfig)

    @model_validator(mode="after")
    def _cross_references(self) -> Config:
        names: set[str] = set()
        fallbacks = 0
        for i, rule in enumerate(self.rules):
            where = f"rules[{i}] ({rule.name})"
            if rule.name in names:
                raise ValueError(f"{where}.name: duplicate rule name")
            names.add(rule.name)
            fallbacks += rule.fallback
            for dest in rule.send_to:
                if dest not in self.destinations:
                    raise ValueError(f"{where}.send_to: unknown destination {dest!r}")
            archive = self.destinations.get(rule.priors.archive) if rule.priors else None
            if rule.priors and getattr(archive, "query", None) is None:
                raise ValueError(f"{where}.priors.archive: not a destination with a query section")
            for key in ("anonymize", "deidentify"):
                profile = getattr(rule, key)
                if profile and profile not in self.anonymizer.profiles:
                    raise ValueError(f"{where}.{key}: unknown anonymizer profile {profile!r}")
        if fallbacks > 1:
            raise ValueError("rules: at most one rule may be fallback: true")
        for i, study_rule in enumerate(self.study_rules):
            where = f"study_rules[{i}] ({study_rule.name})"
            if study_rule.name in names:
                raise ValueError(f"{where}.name: duplicate rule name (series and study rules share names)")
            names.add(study_rule.name)
            for dest in study_rule.send_to:
                if dest not in self.destinations:
                    raise ValueError(f"{where}.send_to: unknown destination {dest!r}")
        return self


def _format_validation_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = list(item["loc"])
        if len(loc) > 2 and loc[0] == "destinations" and loc[2] in DESTINATION_TYPES:
            del loc[2]  # the union's tag (the destination's type) is not a key the user wrote
        path = ".".join(str(p) for p in loc) or "<root>"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {message}")
    return "; ".join(lines)


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not parts:
            continue
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        try:
            node[parts[-1]] = yaml.safe_load(raw) if raw else raw
        except yaml.YAMLError:
            node[parts[-1]] = raw
    return tree


def build_config(data: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Validate a configuration mapping (plus environment overrides) into a :class:`Config`."""
    merged = _deep_merge({}, data or {})
    merged = _deep_merge(merged, _env_overrides(os.environ if environ is None else environ))
    try:
        return Config.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {_format_validation_error(exc)}") from None


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load ``path`` (YAML) over the embedded defaults; ``None`` runs on defaults alone."""
    data: Any = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: configuration file not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return build_config(data, environ)
