"""The language model on a vLLM server (``llm_backend: vllm``): full-prompt embeddings in, greedy text out.

The node keeps InternViT, VGGT and CGMF and builds the whole templated prompt's embeddings ``[L, d]`` (text
embeddings with the fused visual tokens in the image slots); the server, started on a folder written by
``spacemind-engine export-llm`` with ``vllm serve FOLDER --enable-prompt-embeds``, decodes greedily from them.
One server or many behind one URL: requests are independent.

What this gives up against the in-process LLM: the visual-prefix KV cache a follow-up question reuses (the server
sees a new prompt each time; vLLM's own prefix caching does not apply to embedding inputs), per-token progress
and cancel (a request runs to its end or the HTTP timeout), and the prompt travels as a tensor: ``L x d`` values,
at 8B in bfloat16 a 32-frame prompt (~8.3k tokens x 3584) is 59 MB, 79 MB as base64 JSON (measured on this CPU:
0.19 s to encode, 0.25 s to decode; docs/many-robots.md).
"""
from __future__ import annotations

import base64
import http.client
import io
import json
import socket
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from spacemind_ros.errors import BadRequestError, QueryTimeoutError, SpaceMindError


class LLMServerError(SpaceMindError):
    """The vLLM server did not answer, or answered with an error."""


def encode_embeds(embeds: torch.Tensor) -> str:
    """``[L, d]`` tensor -> the base64 text of its ``torch.save`` bytes (vLLM's ``prompt_embeds`` format)."""
    buffer = io.BytesIO()
    torch.save(embeds.detach().to("cpu").contiguous(), buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_embeds(text: str) -> torch.Tensor:
    """The inverse of :func:`encode_embeds` (tensors only: ``weights_only``)."""
    return torch.load(io.BytesIO(base64.b64decode(text)), weights_only=True)


class VllmLLM:
    """Greedy completions from an OpenAI-compatible server with prompt embeddings enabled."""

    name = "vllm"

    def __init__(self, url: str, model: str = "", connect_timeout_s: float = 10.0, max_requests: int = 16):
        """``url``: the API base, e.g. ``http://gpu-host:8000/v1``; ``model``: the served name (empty: the
        server's first model); ``max_requests``: requests in flight at once (``submit``). Asks the server's model
        list now, so a wrong URL fails at configure."""
        self.url = url.rstrip("/")
        self._pool = ThreadPoolExecutor(max_requests, thread_name_prefix="vllm-request")
        served = [m["id"] for m in self._request("GET", "/models", None, connect_timeout_s).get("data", [])]
        if not served:
            raise LLMServerError(f"{self.url}/models lists no model")
        if model and model not in served:
            raise LLMServerError(f"{self.url} serves {served}, not {model!r} (llm_model)")
        self.model = model or served[0]

    @property
    def description(self) -> str:
        return f"vLLM at {self.url} ({self.model})"

    def _request(self, method: str, path: str, body: dict | None, timeout: float) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            # 400: the server refused this prompt (e.g. longer than its --max-model-len): the request's fault
            error = BadRequestError if exc.code == 400 else LLMServerError
            raise error(f"{self.url}{path}: HTTP {exc.code}: {detail}") from None
        except (TimeoutError, socket.timeout):
            raise QueryTimeoutError(f"{self.url}{path} gave no answer within {timeout:.1f} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise QueryTimeoutError(f"{self.url}{path}: no connection within {timeout:.1f} s") from None
            raise LLMServerError(f"{self.url}{path}: {exc.reason} (is `vllm serve ... --enable-prompt-embeds` "
                                 "running there?)") from None
        except (http.client.HTTPException, OSError, ValueError) as exc:
            raise LLMServerError(f"{self.url}{path}: {type(exc).__name__}: {exc}") from None

    def submit(self, fn, *args) -> Future:
        """Run ``fn(*args)`` (a request and what follows it) on this client's request threads."""
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def generate(self, embeds: torch.Tensor, max_new_tokens: int, min_new_tokens: int = 0,
                 timeout: float = 60.0) -> str:
        """Greedy text after the prompt ``embeds`` ``[1, L, d]`` (special tokens skipped, as the node decodes)."""
        body = {"model": self.model, "prompt_embeds": encode_embeds(embeds[0]), "max_tokens": max_new_tokens,
                "min_tokens": min_new_tokens, "temperature": 0.0, "skip_special_tokens": True}
        out = self._request("POST", "/completions", body, timeout)
        try:
            return out["choices"][0]["text"]
        except (KeyError, IndexError, TypeError):
            raise LLMServerError(f"{self.url}/completions answered without a completion: {str(out)[:300]}") from None
