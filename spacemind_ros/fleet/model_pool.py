"""Process-wide pool of loaded models: robots whose model settings match share one copy and one scheduler.

A fleet process configures one node per robot; the first to configure loads the model, the others take the same
object (and its InferenceScheduler), and the last to clean up frees it. A robot with other model settings
(another ``model_path``, device, dtype, backend) gets its own entry.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from spacemind_ros.fleet.scheduler import InferenceScheduler


@dataclass(frozen=True)
class ModelKey:
    """What makes two robots' models the same object."""

    model_path: str
    preset: str
    device: str
    dtype: str
    backend: str
    engine_dir: str
    llm_backend: str = "torch"  # vllm: the model here has no decoder layers


@dataclass
class SharedModel:
    """One loaded model, its inference scheduler, and the robots (node names) using it."""

    key: ModelKey
    model: object
    processor: object
    encoders: object  # the engine backend (spacemind_ros.engine) the model was opened with
    scheduler: InferenceScheduler
    users: set[str] = field(default_factory=set)


class ModelPool:
    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[ModelKey, SharedModel] = {}
        self._loading: dict[ModelKey, threading.Lock] = {}

    def acquire(self, key: ModelKey, user: str, load: Callable[[], tuple[object, object, object]],
                nice: int = 10, max_batch: int = 1) -> SharedModel:
        """The shared model for ``key``, loading it with ``load() -> (model, processor, encoders)`` if no robot
        holds it yet. Concurrent first calls load once; a failed load raises and leaves nothing behind. ``nice``
        and ``max_batch`` set up the model's scheduler (the first robot's values)."""
        with self._lock:
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:  # one load per key; robots of other keys load in parallel
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.users.add(user)
                    return entry
            model, processor, encoders = load()
            entry = SharedModel(key, model, processor, encoders,
                                InferenceScheduler(nice=nice, name=f"spacemind-inference-{len(self._entries)}",
                                                   max_batch=max_batch),
                                {user})
            with self._lock:
                self._entries[key] = entry
            return entry

    def release(self, entry: SharedModel, user: str) -> bool:
        """``user`` is done with ``entry``; True when it was the last and the model was dropped."""
        with self._lock:
            entry.users.discard(user)
            if entry.users or self._entries.get(entry.key) is not entry:
                return False
            del self._entries[entry.key]
            self._loading.pop(entry.key, None)
        entry.scheduler.close()
        return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def users(self) -> dict[ModelKey, set[str]]:
        with self._lock:
            return {k: set(e.users) for k, e in self._entries.items()}


POOL = ModelPool()  # the process's pool: every node of a fleet process configures through it
