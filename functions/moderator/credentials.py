"""Imagga credentials: from a Secrets Manager secret (cached) or, for local runs, the environment.

Values never reach a log line, an error message or a repr.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

from .errors import ImaggaCredentialsError, TransientError
from .imagga import ImaggaCredentials
from .settings import Settings

_TRANSIENT_SECRET_CODES = ("Throttling", "InternalServiceError", "RequestLimitExceeded", "timed out", "Connect")


class CredentialsSource:
    """Callable giving the current credentials; `invalidate()` forces a fresh read (after a 401)."""

    def __init__(self, settings: Settings, provider: SecretsProvider | None = None) -> None:
        self._secret_arn = settings.imagga_secret_arn
        self._max_age = settings.secret_max_age_seconds
        self._provider = provider
        self._force = False
        self._static: ImaggaCredentials | None = None
        if not self._secret_arn and settings.imagga_api_key and settings.imagga_api_secret:
            self._static = ImaggaCredentials(settings.imagga_api_key, settings.imagga_api_secret)

    def invalidate(self) -> None:
        self._force = True

    def __call__(self) -> ImaggaCredentials:
        if self._static is not None:
            return self._static
        if self._secret_arn is None or self._provider is None:
            raise ImaggaCredentialsError("no Imagga credentials configured")
        try:
            value: Any = self._provider.get(
                self._secret_arn, transform="json", max_age=self._max_age, force_fetch=self._force
            )
        except TransformParameterError as exc:
            raise ImaggaCredentialsError(
                f"the Imagga secret {self._secret_arn} is not JSON of the form "
                '{"api_key": "...", "api_secret": "..."}'
            ) from exc
        except GetParameterError as exc:
            message = str(exc)
            if any(code in message for code in _TRANSIENT_SECRET_CODES):
                raise TransientError(f"reading the Imagga secret {self._secret_arn} failed for now") from exc
            raise ImaggaCredentialsError(
                f"cannot read the Imagga secret {self._secret_arn} (does it exist, hold a value, and may "
                f"the function read it?): {_first_line(message)}"
            ) from exc
        self._force = False
        if not isinstance(value, dict) or not _filled(value, "api_key") or not _filled(value, "api_secret"):
            raise ImaggaCredentialsError(
                f"the Imagga secret {self._secret_arn} must hold non-empty api_key and api_secret"
            )
        return ImaggaCredentials(str(value["api_key"]), str(value["api_secret"]))


def _filled(value: dict[str, Any], name: str) -> bool:
    return isinstance(value.get(name), str) and bool(value[name].strip())


def _first_line(text: str) -> str:
    return text.splitlines()[0][:300] if text else ""
