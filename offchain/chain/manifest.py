"""Deployment manifests: ``deployments/<chain-id>.json``, read by the keeper and the auditor.

A manifest holds the chain id, shared infrastructure (router, factory, tokens, feeds) and a list
of vaults. Writing merges into an existing file: vaults already recorded are kept, and a vault
at the same address is updated rather than duplicated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from offchain.core.errors import ConfigError

DEPLOYMENTS = Path("deployments")


def manifest_path(chain_id: int, directory: Path = DEPLOYMENTS) -> Path:
    return directory / f"{chain_id}.json"


def load_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"manifest {path} not found: deploy first (make demo / scripts/deploy_local.py)"
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"manifest {path} is not valid JSON (line {exc.lineno}): fix or redeploy") from None
    if not isinstance(data, dict) or "chain_id" not in data or not isinstance(data.get("vaults"), list):
        raise ConfigError(f"manifest {path} lacks 'chain_id' or a 'vaults' list: redeploy to regenerate it")
    return data


def save_manifest(manifest: dict[str, Any], path: Path) -> Path:
    """Write ``manifest`` to ``path``, merging its vaults into any manifest already there."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = dict(manifest)
    if path.exists():
        old = load_manifest(path)
        if old["chain_id"] != manifest["chain_id"]:
            raise ConfigError(f"{path} is for chain {old['chain_id']}, not {manifest['chain_id']}")
        new_addrs = {v["address"].lower() for v in manifest.get("vaults", [])}
        kept = [v for v in old["vaults"] if v["address"].lower() not in new_addrs]
        merged = {**old, **manifest, "vaults": kept + list(manifest.get("vaults", []))}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(merged, indent=2) + "\n")
    tmp.replace(path)
    return path
