"""Get DEAM from Kaggle through kagglehub, reusing its cache (``KAGGLEHUB_CACHE``) offline."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from emotrack.models.errors import UserError

DEAM_HANDLE = "imsparsh/deam-mediaeval-dataset-emotional-analysis-in-music"
OFFICIAL_SITE = "https://cvml.unige.ch/databases/DEAM"


def cached_versions(handle: str = DEAM_HANDLE) -> list[int]:
    """Versions of a Kaggle dataset that kagglehub has completely downloaded, oldest first.

    kagglehub keeps ``<cache>/datasets/<owner>/<name>/versions/<N>/`` and marks it complete
    with ``<cache>/datasets/<owner>/<name>/<N>.complete``.
    """
    from kagglehub.config import get_cache_folder

    owner, name = handle.split("/")[:2]
    base = Path(get_cache_folder()) / "datasets" / owner / name
    versions = []
    for marker in base.glob("*.complete"):
        if marker.stem.isdigit() and (base / "versions" / marker.stem).is_dir():
            versions.append(int(marker.stem))
    return sorted(versions)


def download_deam(handle: str = DEAM_HANDLE) -> Path:
    """Path of an unpacked DEAM copy from Kaggle.

    DEAM does not change, so a version already in kagglehub's cache is used as is (no network);
    otherwise kagglehub downloads the current version into its cache.
    """
    import kagglehub

    _log_to_stderr()
    versions = cached_versions(handle)
    if versions:
        target = f"{handle}/versions/{versions[-1]}"
    else:
        target = handle
        print(f"downloading DEAM from Kaggle ({handle}); this takes a while", file=sys.stderr)
    try:
        return Path(kagglehub.dataset_download(target))
    except Exception as exc:  # kagglehub raises many types: network, HTTP, credentials
        raise UserError(
            f"could not get DEAM from Kaggle ({_reason(exc)}). --download needs network access "
            "and Kaggle credentials (KAGGLE_USERNAME and KAGGLE_KEY, or ~/.kaggle/kaggle.json). "
            f"Or download DEAM yourself (Kaggle {handle}, or {OFFICIAL_SITE}), unpack it and "
            "pass --data-dir DIR"
        ) from None


def _log_to_stderr() -> None:
    """kagglehub logs to stdout, which emotrack keeps for machine output."""
    for handler in logging.getLogger("kagglehub").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)


def _reason(exc: Exception) -> str:
    """A short cause: no network, access refused, or kagglehub's first line."""
    import requests

    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return "cannot reach Kaggle: no network connection"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return f"Kaggle refused access (HTTP {status}): missing or wrong credentials"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
