"""Where and in what precision the model runs: one policy, decided once from node parameters or CLI flags.

``dtype`` ``auto`` means bfloat16 on CUDA (what the 8B model is served and trained in) and float32 on the CPU (bf16
matmuls are slow on most CPUs and the tests compare against float32). InternViT + projector, CGMF and the LLM run
in ``dtype``; VGGT keeps float32 weights and runs its aggregator under autocast on CUDA, as the official code does.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DTYPE_CHOICES = ("auto", *DTYPES)


@dataclass(frozen=True)
class RuntimeSettings:
    device: torch.device
    dtype: torch.dtype

    @classmethod
    def resolve(cls, device: str = "cpu", dtype: str = "auto") -> "RuntimeSettings":
        """``device``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when present); ``dtype``: one of DTYPE_CHOICES.

        Raises ValueError with what is wrong (an unknown name, CUDA asked for but missing, a GPU index too high).
        """
        name = (device or "cpu").strip().lower()
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            dev = torch.device(name)
        except RuntimeError as exc:
            raise ValueError(f"device {device!r} is not a torch device (cpu, cuda, cuda:N, auto): {exc}") from None
        if dev.type not in ("cpu", "cuda"):
            raise ValueError(f"device {device!r}: only cpu and cuda are supported")
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise ValueError(f"device {device!r} asked for, but this torch has no CUDA device "
                                 f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'})")
            count = torch.cuda.device_count()
            if dev.index is None:
                dev = torch.device("cuda", torch.cuda.current_device())
            elif dev.index >= count:
                raise ValueError(f"device {device!r}: only {count} CUDA device(s) are visible")
        key = (dtype or "auto").strip().lower()
        if key not in DTYPE_CHOICES:
            raise ValueError(f"dtype {dtype!r} is not one of {', '.join(DTYPE_CHOICES)}")
        if key == "auto":
            resolved = torch.bfloat16 if dev.type == "cuda" else torch.float32
        else:
            resolved = DTYPES[key]
        return cls(dev, resolved)

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    @property
    def vggt_autocast(self) -> torch.dtype | None:
        """Autocast dtype for VGGT's aggregator: the serving dtype on CUDA when it is a half type, else none."""
        if self.device.type == "cuda" and self.dtype in (torch.bfloat16, torch.float16):
            return self.dtype
        return None

    def describe(self) -> str:
        return f"{self.device} {self.dtype_name}"
