"""``spacemind-engine export-llm``: the LLM with LoRA merged as a standard Qwen2 folder, and the node's
``llm_backend: vllm`` path. The folder loaded by transformers' own Qwen2ForCausalLM and fed the node's prompt
embeddings gives the node's greedy tokens; the HTTP client talks vLLM's Completions API (``prompt_embeds``) to a
stand-in server that runs that folder with transformers (the real ``vllm serve`` needs CUDA: the GPU check)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from transformers import Qwen2ForCausalLM

from spacemind_ros.engine.cli import main as engine_main
from spacemind_ros.engine.llm_export import export_llm, read_manifest
from spacemind_ros.engine.vllm_llm import LLMServerError, VllmLLM, decode_embeds, encode_embeds
from spacemind_ros.model.presets import load_model
from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig
from spacemind_ros.runtime import RuntimeSettings
from spacemind_ros.scenes import walkthrough_frames

S = 1_000_000_000
QUESTIONS = [("How many chairs are in the room?", ()), ("What is the size of the room in square meters?", ()),
             ("Which is closer to the door?", ("A. sofa", "B. table", "C. bed", "D. sink"))]


def reasoner(model, processor, **cfg):
    r = SpatialReasoner(model, processor, WindowConfig(min_gap_s=0.0), ReasonerConfig(**cfg))
    for stamp, img in walkthrough_frames(num_frames=24, height=60, width=80):
        r.add_frame(stamp + S, img)
    return r


class TransformersLLM:
    """What a vLLM server does with prompt embeddings, done by transformers on the exported folder."""

    def __init__(self, folder, dtype=torch.float32):
        self.qwen = Qwen2ForCausalLM.from_pretrained(folder, dtype=dtype).eval()
        self.seen = []

    def ids(self, embeds, max_new_tokens, min_new_tokens=0):
        with torch.no_grad():
            out = self.qwen.generate(inputs_embeds=embeds.to(self.qwen.dtype), max_new_tokens=max_new_tokens,
                                     min_new_tokens=min_new_tokens, do_sample=False)
        return out[0]

    def generate(self, embeds, max_new_tokens, min_new_tokens=0, timeout=60.0):
        self.seen.append(embeds)
        return self.tokenizer.decode(self.ids(embeds, max_new_tokens, min_new_tokens), skip_special_tokens=True)


@pytest.fixture(scope="module", params=["small", "tiny"])
def exported(request, tmp_path_factory):
    model, processor = load_model(None, preset=request.param)
    folder = export_llm(model, tmp_path_factory.mktemp(request.param) / "llm", source=request.param)
    llm = TransformersLLM(folder)
    llm.tokenizer = processor.tokenizer
    return model, processor, folder, llm


def test_the_folder_is_a_standard_qwen2_checkpoint(exported):
    model, _, folder, llm = exported
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForCausalLM"] and config["model_type"] == "qwen2"
    assert config["eos_token_id"] == model.eos_token_ids()[0]
    manifest = read_manifest(folder)
    assert manifest["hidden_size"] == config["hidden_size"] and manifest["image_token_id"] == model.image_token_id
    # LoRA folded in: the exported q_proj is the merged weight the node serves with, not the base weight
    q = llm.qwen.model.layers[0].self_attn.q_proj.weight
    assert torch.equal(q, model.base.model.language_model.layers[0].self_attn.q_proj.base_layer.weight)
    assert model.lora_merged
    with pytest.raises(FileExistsError):
        export_llm(model, folder)


def test_transformers_on_the_folder_gives_the_nodes_answers(exported):
    model, processor, _, llm = exported
    local = reasoner(model, processor)
    remote = reasoner(model, processor, llm=llm)
    for question, options in QUESTIONS:
        a, b = local.ask(question, options=options), remote.ask(question, options=options)
        assert a.success and b.success and a.answer == b.answer and a.choice == b.choice, (question, a, b)
        # token for token: the node's own greedy decode over the same embeddings
        embeds = llm.seen[-1]
        ids = model.greedy_decode(embeds, None, 16)[0]
        assert torch.equal(llm.ids(embeds, 16)[: len(ids)], ids)
    local.close()
    remote.close()


class _Server(BaseHTTPRequestHandler):
    """vLLM's OpenAI-compatible routes that the node uses: GET /v1/models, POST /v1/completions (prompt_embeds)."""

    llm = None
    fail = 0  # an HTTP status to answer with instead
    barrier = None  # a threading.Barrier every request must pass: proves requests are in flight together

    def _reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._reply(200, {"object": "list", "data": [{"id": "spacemind-llm", "object": "model"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.fail or self.path != "/v1/completions" or "prompt" in body:
            return self._reply(self.fail or 400, {"error": {"message": "refused"}})
        if self.barrier is not None:
            self.barrier.wait()
        embeds = decode_embeds(body["prompt_embeds"])  # [L, d]
        text = self.llm.generate(embeds[None], body["max_tokens"], body["min_tokens"])
        self._reply(200, {"object": "text_completion", "model": body["model"],
                          "choices": [{"index": 0, "text": text, "finish_reason": "stop"}]})

    def log_message(self, *args):
        pass


@pytest.fixture
def server(exported):
    handler = type("Handler", (_Server,), {"llm": exported[3]})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def test_the_http_path_gives_the_same_answers(exported, server):
    model, processor, _, _ = exported
    handler, url = server
    client = VllmLLM(url)
    assert client.model == "spacemind-llm"
    local, remote = reasoner(model, processor), reasoner(model, processor, llm=client)
    for question, options in QUESTIONS:
        assert local.ask(question, options=options).answer == remote.ask(question, options=options).answer
    handler.fail = 400  # the server refused the prompt (e.g. past its --max-model-len): the request's fault
    bad = remote.ask("How many chairs are in the room?")
    assert not bad.success and bad.error_code == "BAD_REQUEST" and "HTTP 400" in bad.error_message
    handler.fail = 503  # a server error is an answer with a reason, never a crash
    bad = remote.ask("How many chairs are in the room?")
    assert not bad.success and bad.error_code == "INTERNAL" and "HTTP 503" in bad.error_message
    local.close()
    remote.close()


def test_robots_on_one_model_have_requests_in_flight_together(exported, server):
    """The inference thread hands each request to the client's threads: two robots' requests reach the server
    together (its barrier lets none through alone), and both answer."""
    from spacemind_ros.fleet import InferenceScheduler

    model, processor, _, _ = exported
    handler, url = server
    handler.barrier = threading.Barrier(2, timeout=20)
    client, scheduler = VllmLLM(url), InferenceScheduler(nice=0)
    rs = [SpatialReasoner(model, processor, WindowConfig(min_gap_s=0.0), ReasonerConfig(llm=client),
                          scheduler=scheduler, name=f"robot{k}") for k in range(2)]
    for r in rs:
        for stamp, img in walkthrough_frames(num_frames=24, height=60, width=80):
            r.add_frame(stamp + S, img)
    answers = [None, None]
    threads = [threading.Thread(target=lambda k=k: answers.__setitem__(k, rs[k].ask(QUESTIONS[k][0])))
               for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(a is not None and a.success for a in answers), answers
    for r in rs:
        r.close()
    scheduler.close()
    client.close()


def test_a_wrong_url_or_model_fails_with_the_reason(server):
    _, url = server
    with pytest.raises(LLMServerError, match="not 'other'"):
        VllmLLM(url, model="other")
    with pytest.raises(LLMServerError, match="is `vllm serve"):
        VllmLLM("http://127.0.0.1:9/v1", connect_timeout_s=2)


def test_embeddings_travel_bit_exact_in_bf16():
    x = torch.randn(7, 12, dtype=torch.bfloat16)
    y = decode_embeds(encode_embeds(x))
    assert y.dtype == torch.bfloat16 and torch.equal(x, y)


def test_bf16_export_and_dropped_layers(tmp_path, capsys):
    assert engine_main(["export-llm", "--preset", "tiny", "--dtype", "bfloat16", "--out", str(tmp_path / "llm")]) == 0
    assert "vllm serve" in json.loads(capsys.readouterr().out)["serve"]
    assert Qwen2ForCausalLM.from_pretrained(tmp_path / "llm").dtype == torch.bfloat16
    assert read_manifest(tmp_path / "llm")["dtype"] == "bfloat16"
    assert engine_main(["export-llm", "--preset", "tiny", "--out", str(tmp_path / "llm")]) == 2  # not empty
    model, processor = load_model(None, preset="tiny", runtime=RuntimeSettings.resolve("cpu", "bfloat16"))
    before = sum(p.numel() for p in model.parameters())
    model.drop_language_layers()  # what a node with llm_backend vllm keeps: the embeddings, not the layers
    assert sum(p.numel() for p in model.parameters()) < before
    assert model.embed(processor.encode(2, "How many?").question, None).dtype == torch.bfloat16
    with pytest.raises(RuntimeError, match="dropped"):
        model.greedy_decode(torch.zeros(1, 3, model.base.config.text_config.hidden_size, dtype=torch.bfloat16))
