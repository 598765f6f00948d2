"""The command group, its shared options, and the one place expected errors become one line."""

from __future__ import annotations

import sys
from typing import Any

import click
from botocore.exceptions import NoCredentialsError, NoRegionError

from ..errors import ImaggaCredentialsError, ModeratorError, SettingsError
from ..observability import quiet_for_command_line
from .backfill_cmd import backfill
from .check import check
from .doctor import doctor
from .quarantine import quarantine
from .review_cmd import review
from .runtime import Runtime
from .scan import scan
from .tags_cmd import tags

#: Exit codes: 1 a failure while working, 2 a problem with the setup, 3 input that is not an image.
EXIT_FAILED, EXIT_SETUP, EXIT_NOT_AN_IMAGE, EXIT_INTERRUPTED = 1, 2, 3, 130


class ExpectedError(click.ClickException):
    """An error the operator can act on: one line, no traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


class Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise ExpectedError(str(exc), EXIT_SETUP) from exc
        except ImaggaCredentialsError as exc:
            raise ExpectedError(str(exc), EXIT_SETUP) from exc
        except NoCredentialsError as exc:
            raise ExpectedError(
                "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", EXIT_SETUP
            ) from exc
        except NoRegionError as exc:
            raise ExpectedError("no AWS region: set AWS_REGION or pass --region", EXIT_SETUP) from exc
        except ModeratorError as exc:
            raise ExpectedError(str(exc), EXIT_FAILED) from exc
        except KeyboardInterrupt as exc:
            # click would turn Ctrl-C into "Aborted!" and exit 1; say what happened, exit 130.
            raise ExpectedError("interrupted: rerun the same command to resume", EXIT_INTERRUPTED) from exc


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--endpoint-url", envvar="AWS_ENDPOINT_URL", help="AWS endpoint, e.g. the local stack's.")
@click.option("--region", envvar="AWS_REGION", help="AWS region (default: from your AWS configuration).")
@click.option("-v", "--verbose", is_flag=True, help="Log every object moderated.")
@click.pass_context
def cli(ctx: click.Context, endpoint_url: str | None, region: str | None, verbose: bool) -> None:
    """Operate imagga-s3-moderator: check images, scan folders, backfill buckets, review the quarantine, check a bucket.

    Imagga settings come from the same environment variables as the function
    (IMAGGA_API_KEY / IMAGGA_API_SECRET or IMAGGA_SECRET_ARN, IMAGGA_API_ENDPOINT, thresholds...).
    """
    quiet_for_command_line(verbose)
    ctx.obj = Runtime(endpoint_url=endpoint_url, region=region)


cli.add_command(check)
cli.add_command(scan)
cli.add_command(backfill)
cli.add_command(quarantine)
cli.add_command(tags)
cli.add_command(review)
cli.add_command(doctor)


def main() -> None:
    try:
        cli.main(prog_name="python -m moderator", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
