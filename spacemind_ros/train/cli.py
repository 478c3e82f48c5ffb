"""``spacemind-train --config FILE [section.field=value ...]``: a thin face over :class:`Trainer`.

Single GPU: ``spacemind-train --config config/train/spacemind-8b.yaml``; several: ``torchrun --nproc_per_node 8
-m spacemind_ros.train.cli --config ...`` (same script, DDP). ``--print-config`` writes the documented YAML."""
from __future__ import annotations

import argparse
import json
import logging
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="spacemind-train", description=__doc__.split("\n")[0])
    p.add_argument("--config", help="YAML training config (see config/train/ and --print-config)")
    p.add_argument("overrides", nargs="*", help="section.field=value (YAML value), e.g. train.lr=1e-4 "
                                                "output.dir=runs/x")
    p.add_argument("--print-config", action="store_true", help="print the resolved config, documented, and exit")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    from spacemind_ros.train.config import load_config, render_yaml

    try:
        config = load_config(args.config, args.overrides)
    except (ValueError, OSError) as exc:
        print(f"spacemind-train: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        sys.stdout.write(render_yaml(config))
        return 0
    logging.basicConfig(level=args.log_level, format="[spacemind-train] %(levelname)s %(message)s")
    from spacemind_ros.train.distributed import barrier, shutdown
    from spacemind_ros.train.trainer import Trainer

    trainer = Trainer(config)
    try:
        summary = trainer.fit()
        barrier(trainer.dist)  # ranks leave together: gloo's threads must not outlive a peer's group
    finally:
        shutdown(trainer.dist)
    if trainer.dist.is_main:
        short = {k: v for k, v in summary.items() if k not in ("skipped_samples", "replica_digests")}
        print(json.dumps(short, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
