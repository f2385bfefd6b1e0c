"""The phone-side updater: check in, download through TUF, patch, verify, report.

A :class:`DeviceAgent` keeps its state in one directory::

    image.bin           the installed OS image
    version             its version
    factory-root.json   the TUF root the phone shipped with (its trust anchor)
    identity.json       the maker (tenant) and model it was built as, set at the factory
    tuf/                python-tuf's trusted metadata (root chain, timestamp, snapshot, …)
    downloads/          files in flight; never trusted as they are

Every file it installs is verified by python-tuf's ``ngclient`` against metadata
that chains back to the factory root: a tampered image or patch, metadata
rolled back to an older version, expired metadata and a mix of metadata from
different repository versions are all refused. A delta is applied to the local
image and the result must match the full image's signed length and hashes, so
the full image is never downloaded for a delta update. The agent also refuses
a release that is not newer than what it runs (by the version inside the
signed target, not the server's word), and any target that is not its own
maker's and model's, both by path (``<tenant>/<model>/…``) and by the tenant and
model signed into the target's custom metadata: a check-in answer naming
another maker's or model's (validly signed) image is refused. On any failure it keeps its image and
version and reports the reason.

A real phone writes the new image to its inactive A/B slot; here the image is
replaced with an atomic rename.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import bsdiff4
import httpx
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import TargetFile
from tuf.ngclient import Updater
from tuf.ngclient.fetcher import FetcherInterface

from yunshang.files import atomic_write
from yunshang.os_versions import is_newer_version, os_version_key
from yunshang.ota_targets import is_target_of

log = logging.getLogger(__name__)

Status = Literal["up_to_date", "updated", "failed"]


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What one :meth:`DeviceAgent.run_once` did."""

    status: Status
    version: str  # the version installed after the run
    detail: str = ""
    via: Literal["delta", "image"] | None = None
    reported: bool = False  # the server acknowledged the report


class UpdateRefused(Exception):
    """The agent will not install what it was offered; the message is the reason reported."""


class HttpxFetcher(FetcherInterface):
    """python-tuf's download interface over an ``httpx`` client (streamed)."""

    def __init__(self, client: httpx.Client, chunk_size: int = 1 << 16) -> None:
        self._client = client
        self._chunk_size = chunk_size

    def _fetch(self, url: str) -> Iterator[bytes]:
        try:
            response = self._client.send(self._client.build_request("GET", url), stream=True)
        except httpx.TimeoutException as exc:
            raise tuf_errors.SlowRetrievalError(f"{url}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise tuf_errors.DownloadError(f"{url}: {exc}") from exc
        if response.status_code != 200:
            response.close()
            raise tuf_errors.DownloadHTTPError(f"HTTP {response.status_code} for {url}",
                                               response.status_code)
        return self._chunks(response, url)

    def _chunks(self, response: httpx.Response, url: str) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes(self._chunk_size)
        except httpx.TimeoutException as exc:
            raise tuf_errors.SlowRetrievalError(f"{url}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise tuf_errors.DownloadError(f"{url}: {exc}") from exc
        finally:
            response.close()


class DeviceAgent:
    """One phone's updater, talking to the platform at ``base_url`` with its device key."""

    def __init__(self, base_url: str, device_token: str, imei: str, state_dir: Path, *,
                 http: httpx.Client | None = None, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.imei = imei
        self.state_dir = Path(state_dir)
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=timeout_s)
        self._auth = {"Authorization": f"Bearer {device_token}"}

    # ------------------------------------------------------------------ state

    @staticmethod
    def provision(state_dir: Path, *, root: bytes, image: bytes | Path, version: str,
                  tenant: str, model: str) -> None:
        """Factory set-up: the trust anchor, the phone's maker and model, its first image."""
        if not tenant or not model:
            raise ValueError("a phone is provisioned with its maker (tenant) and model")
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(state_dir / "factory-root.json", root)
        atomic_write(state_dir / "identity.json",
                     json.dumps({"tenant": tenant, "model": model}).encode())
        if isinstance(image, Path):
            shutil.copyfile(image, state_dir / "image.bin")
        else:
            atomic_write(state_dir / "image.bin", image)
        atomic_write(state_dir / "version", version.encode())

    @property
    def image_path(self) -> Path:
        return self.state_dir / "image.bin"

    @property
    def version(self) -> str:
        return (self.state_dir / "version").read_text().strip()

    @property
    def identity(self) -> tuple[str, str]:
        """The (tenant, model) the phone was provisioned as: the only targets it accepts."""
        try:
            data = json.loads((self.state_dir / "identity.json").read_bytes())
            tenant, model = data["tenant"], data["model"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UpdateRefused("the phone was not provisioned with its tenant and model "
                                "(yunshang device provision --tenant --model)") from exc
        if not isinstance(tenant, str) or not isinstance(model, str) or not tenant or not model:
            raise UpdateRefused("the phone's identity.json names no tenant and model")
        return tenant, model

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def __enter__(self) -> DeviceAgent:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the cycle

    def run_once(self) -> UpdateResult:
        """Checks in; installs the offered update, if any; reports how it went."""
        current = self.version
        try:
            offer = self._check_in(current)
        except (httpx.HTTPError, ValueError) as exc:
            return UpdateResult("failed", current, f"check-in failed: {_why(exc)}")
        if offer is None:
            return UpdateResult("up_to_date", current)
        try:
            via = self._install(offer, current)
        except Exception as exc:  # any failure: keep the old image, tell the server why
            detail = _why(exc)
            log.warning("update to %s refused or failed: %s", offer.get("version"), detail)
            reported = self._report(offer["rollout_id"], success=False, detail=detail)
            return UpdateResult("failed", self.version, detail, reported=reported)
        finally:
            shutil.rmtree(self.state_dir / "downloads", ignore_errors=True)
        reported = self._report(offer["rollout_id"], success=True,
                                detail=f"installed {offer['version']} via {via}")
        return UpdateResult("updated", self.version, via=via, reported=reported)

    def _check_in(self, current: str) -> dict[str, Any] | None:
        r = self.http.post(f"{self.base_url}/v1/devices/{self.imei}/check-in",
                           json={"current_version": current}, headers=self._auth)
        r.raise_for_status()
        update: dict[str, Any] | None = r.json()["update"]
        return update

    def _report(self, rollout_id: str, *, success: bool, detail: str) -> bool:
        try:
            r = self.http.post(f"{self.base_url}/v1/devices/{self.imei}/update-reports",
                               json={"rollout_id": rollout_id, "success": success,
                                     "detail": detail[:500]}, headers=self._auth)
        except httpx.HTTPError as exc:
            log.warning("could not report the update outcome: %s", exc)
            return False
        if r.status_code not in (200, 201):
            log.warning("the server refused the report: %s %s", r.status_code, r.text[:300])
            return False
        return True

    def _updater(self) -> Updater:
        metadata_dir = self.state_dir / "tuf"
        metadata_dir.mkdir(parents=True, exist_ok=True)
        downloads = self.state_dir / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        return Updater(
            metadata_dir=str(metadata_dir),
            metadata_base_url=f"{self.base_url}/v1/tuf/metadata/",
            target_dir=str(downloads),
            target_base_url=f"{self.base_url}/v1/tuf/targets/",
            fetcher=HttpxFetcher(self.http),
            bootstrap=(self.state_dir / "factory-root.json").read_bytes(),
        )

    def _install(self, offer: dict[str, Any], current: str) -> Literal["delta", "image"]:
        version = str(offer["version"])
        if not is_newer_version(version, current):
            raise UpdateRefused(f"rollback refused: offered {version}, running {current}")
        tenant, model = self.identity
        delta = offer.get("delta")
        # The server's answer is not trusted: refuse other makers' and models' paths
        # before downloading anything.
        for path in (offer["image"]["target"], *([delta["target"]] if delta else [])):
            _check_own_path(str(path), tenant, model)
        updater = self._updater()
        updater.refresh()  # root chain, timestamp, snapshot, targets: every TUF check
        image = _own_target(updater, offer["image"]["target"], tenant, model)
        signed = image.custom or {}
        if signed.get("kind") != "os-image" or signed.get("version") != version:
            raise UpdateRefused(f"the signed target {image.path} is not OS image {version}")
        downloads = self.state_dir / "downloads"
        new_image = downloads / "image.new"
        via: Literal["delta", "image"] = "image"
        if delta and os_version_key(str(delta.get("from_version"))) == os_version_key(current):
            patch_info = _own_target(updater, delta["target"], tenant, model)
            spec = patch_info.custom or {}
            if (spec.get("kind") != "os-delta" or spec.get("to_version") != version
                    or os_version_key(str(spec.get("from_version"))) != os_version_key(current)):
                raise UpdateRefused(f"the signed target {patch_info.path} is not a patch "
                                    f"from {current} to {version}")
            patch = updater.download_target(patch_info, filepath=str(downloads / "delta.bsdiff"))
            bsdiff4.file_patch(str(self.image_path), str(new_image), patch)
            via = "delta"
        else:
            updater.download_target(image, filepath=str(new_image))
        # The patched (or downloaded) image must be the signed image, byte for byte.
        with new_image.open("rb") as fh:
            image.verify_length_and_hashes(fh)
        _fsync(new_image)
        os.replace(new_image, self.image_path)
        atomic_write(self.state_dir / "version", version.encode())
        return via


def _signed_target(updater: Updater, path: str) -> TargetFile:
    info = updater.get_targetinfo(path)
    if info is None:
        raise UpdateRefused(f"{path} is not a target of the signed metadata")
    return info


def _check_own_path(path: str, tenant: str, model: str) -> None:
    if not is_target_of(path, tenant=tenant, model=model):
        raise UpdateRefused(f"{path} is not a target of this phone's tenant {tenant!r} "
                            f"and model {model!r}")


def _own_target(updater: Updater, path: str, tenant: str, model: str) -> TargetFile:
    """The signed target at ``path``, which must say it is for this tenant and model."""
    info = _signed_target(updater, path)
    signed = info.custom or {}
    if signed.get("tenant") != tenant or signed.get("model") != model:
        raise UpdateRefused(f"the signed target {path} is for tenant {signed.get('tenant')!r} "
                            f"and model {signed.get('model')!r}, not this phone's "
                            f"{tenant!r} and {model!r}")
    return info


def _why(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    if cause is not None and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})"
    return text[:500]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
