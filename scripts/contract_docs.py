"""Write (or, with --check, verify) docs/contracts/: JSON Schema per topic and AsyncAPI per service."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from migradesk_intake import channels as intake_channels
from migradesk_metrics import channels as metrics_channels
from migradesk_referral import channels as referral_channels
from migradesk_shared.contracts.docs import asyncapi_document, dumps, json_schemas

DOCS = Path(__file__).resolve().parent.parent / "docs" / "contracts"
SERVICES = {"intake": intake_channels, "referral": referral_channels, "metrics": metrics_channels}


def render() -> dict[str, str]:
    files = {f"schemas/{name}": dumps(schema) for name, schema in json_schemas().items()}
    for service, channels in SERVICES.items():
        files[f"asyncapi/{service}.asyncapi.json"] = dumps(asyncapi_document(
            service, subscribes=channels.SUBSCRIBES, publishes=channels.PUBLISHES,
            examples=getattr(channels, "EXAMPLES", None)))
    return files


def stale_files(root: Path = DOCS) -> list[str]:
    wanted = render()
    on_disk = {str(p.relative_to(root)) for p in root.rglob("*.json")} if root.exists() else set()
    changed = [name for name, text in wanted.items()
               if not (root / name).exists() or (root / name).read_text(encoding="utf-8") != text]
    return sorted(changed + [name for name in on_disk - set(wanted)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed documents are stale")
    args = parser.parse_args()
    if args.check:
        stale = stale_files()
        if stale:
            print("stale contract documents (run `make schemas`):\n  " + "\n  ".join(stale), file=sys.stderr)
            return 1
        return 0
    for old in DOCS.rglob("*.json") if DOCS.exists() else ():
        old.unlink()
    for name, text in render().items():
        (DOCS / name).parent.mkdir(parents=True, exist_ok=True)
        (DOCS / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(render())} documents to {DOCS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
