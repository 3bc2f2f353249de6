#!/usr/bin/env python3
"""End-to-end test of the rattn-server process, driven only from outside it.

A foreign client (Python grpcio with stubs generated from proto/rattn/v1/rattn.proto) and plain
HTTP check what a user of the server sees:

  1. startup: the server picks free ports, logs them, and its health service says SERVING;
  2. the API: streaming and unary generation agree and are deterministic, token-id prompts, n > 1
     with seeds, model information, tokenization, and INVALID_ARGUMENT naming the bad field;
  3. metrics: after scripted traffic the counters rise by exactly what was sent;
  4. the scrape passes `promtool check metrics`;
  5. drain: on SIGTERM health turns NOT_SERVING, new generation is UNAVAILABLE, requests in
     flight finish with all their tokens, and the process exits with status 0.

The server is killed in any case when the test ends. Exit status 0 when every check passed.

Usage: server_process_test.py --server PATH --make_checkpoint PATH --stubs DIR [--promtool PATH]
"""

import argparse
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

STARTUP_TIMEOUT_S = 60.0
RPC_TIMEOUT_S = 30.0
# Generous, because steps slow down many times over while other processes hold the cores.
DRAIN_TIMEOUT_S = 60
# The drain check wants its streams to outlive the SIGTERM by about this long.
DRAIN_STREAM_SECONDS = 2.0
# How long counters may lag behind the responses that caused them.
METRICS_SETTLE_S = 5.0

LAYER_TYPES = ["rattention", "rattention", "rattention", "full_attention"]
SLIDING_WINDOW = 16
POOLS = ("global_kv", "window", "rla_state")

# Health service messages, encoded by hand because Debian's grpcio has no grpc_health module.
HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check"
HEALTH_SERVING = 1
HEALTH_NOT_SERVING = 2

grpc = None  # imported in main(), after the argument check
pb = None  # rattn.v1.rattn_pb2
pb_grpc = None  # rattn.v1.rattn_pb2_grpc


def check(condition, what, detail=""):
    """Prints `what` when `condition` holds; raises AssertionError naming it (and `detail`)
    otherwise."""
    if not condition:
        raise AssertionError(f"{what}" + (f" -- {detail}" if detail else ""))
    print(f"  ok: {what}")


# ---------------------------------------------------------------------------------------------
# The server process.


class ServerProcess:
    """rattn-server started on free ports, its stderr kept in a file for the ports and for
    failure reports."""

    def __init__(self, binary, model_dir, work_dir, extra_args=(), name="server"):
        self.log_path = os.path.join(work_dir, f"{name}.log")
        self._log = open(self.log_path, "wb")
        command = [
            binary,
            f"--model_dir={model_dir}",
            "--listen=127.0.0.1:0",
            "--metrics_listen=127.0.0.1:0",
            f"--drain_timeout={DRAIN_TIMEOUT_S}s",
            "--memory_budget=256MiB",
            "--log_level=info",
            *extra_args,
        ]
        print("starting:", " ".join(command))
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        self.grpc_port = None
        self.metrics_port = None

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")

    def wait_for_ports(self):
        """Waits until the log names both ports; raises if the process exits or time runs out."""
        grpc_pattern = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
        metrics_pattern = re.compile(r"metrics on http://127\.0\.0\.1:(\d+)/metrics")
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            text = self.log_text()
            grpc_match = grpc_pattern.search(text)
            metrics_match = metrics_pattern.search(text)
            if grpc_match and metrics_match:
                self.grpc_port = int(grpc_match.group(1))
                self.metrics_port = int(metrics_match.group(1))
                return
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with status {self.process.returncode} "
                                     "before logging both ports")
            time.sleep(0.1)
        raise AssertionError(f"server logged no 'listening on' and 'metrics on' lines within "
                             f"{STARTUP_TIMEOUT_S:.0f} s")

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


def health_status(channel, timeout=5.0):
    """The serving status of the whole server (service ""), from grpc.health.v1.Health/Check."""
    call = channel.unary_unary(HEALTH_CHECK_METHOD, request_serializer=lambda raw: raw,
                               response_deserializer=lambda raw: raw)
    response = call(b"", timeout=timeout)  # HealthCheckRequest{service: ""} encodes to nothing
    return parse_health_response(response)


def parse_health_response(raw):
    """Reads field 1 (the status enum, a varint) of an encoded HealthCheckResponse; 0 when
    absent."""
    position = 0
    status = 0
    while position < len(raw):
        key, position = read_varint(raw, position)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = read_varint(raw, position)
            if field == 1:
                status = value
        elif wire_type == 2:
            length, position = read_varint(raw, position)
            position += length
        else:
            raise AssertionError(f"unexpected wire type {wire_type} in HealthCheckResponse")
    return status


def read_varint(raw, position):
    value = 0
    shift = 0
    while True:
        byte = raw[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def wait_until_serving(channel, process):
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with status {process.returncode} before serving")
        try:
            last = health_status(channel, timeout=2.0)
            if last == HEALTH_SERVING:
                return
        except grpc.RpcError as error:
            last = error.code()
        time.sleep(0.1)
    raise AssertionError(f"health never said SERVING within {STARTUP_TIMEOUT_S:.0f} s "
                         f"(last answer: {last})")


# ---------------------------------------------------------------------------------------------
# Requests and streams.


def make_request(*, text=None, token_ids=None, max_new_tokens, temperature=0.0, n=1, seed=None,
                 top_p=None, request_id=""):
    """A GenerateRequest that ignores end-of-sequence, so every sample ends by length."""
    request = pb.GenerateRequest(request_id=request_id, n=n)
    if text is not None:
        request.text = text
    else:
        request.token_ids.ids.extend(token_ids)
    request.sampling.temperature = temperature
    if seed is not None:
        request.sampling.seed = seed
    if top_p is not None:
        request.sampling.top_p = top_p
    request.stopping.max_new_tokens = max_new_tokens
    request.stopping.ignore_eos = True
    return request


class StreamReader:
    """Reads one Generate stream to its end, recording each sample's tokens, text and
    Completion, and when each response arrived. Safe to run in a thread; `first_chunk` and
    `done` are set as the stream progresses."""

    def __init__(self, stub, request):
        self.request = request
        self.call = stub.Generate(request, timeout=DRAIN_TIMEOUT_S + RPC_TIMEOUT_S)
        self.tokens = {}  # sample index -> token ids
        self.text = {}  # sample index -> text
        self.completions = {}  # sample index -> Completion
        self.request_ids = set()
        self.response_kinds = []  # "chunk" / "completion" / "error", in arrival order
        self.chunk_times = []  # time.monotonic() of each chunk
        self.chunk_after_completion = False
        self.error = None  # grpc.RpcError that ended the stream, if any
        self.first_chunk = threading.Event()
        self.done = threading.Event()

    def run(self):
        try:
            for response in self.call:
                self.request_ids.add(response.request_id)
                kind = response.WhichOneof("response")
                self.response_kinds.append(kind)
                if kind == "chunk":
                    chunk = response.chunk
                    if chunk.index in self.completions:
                        self.chunk_after_completion = True
                    self.tokens.setdefault(chunk.index, []).extend(chunk.token_ids)
                    self.text[chunk.index] = self.text.get(chunk.index, "") + chunk.text
                    self.chunk_times.append(time.monotonic())
                    self.first_chunk.set()
                elif kind == "completion":
                    self.completions[response.completion.index] = response.completion
        except grpc.RpcError as error:
            self.error = error
        finally:
            self.first_chunk.set()
            self.done.set()

    def start_thread(self):
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread


def finish_reason_name(value):
    return pb.FinishReason.Name(value)


def expect_status(call, expected_code, what, field=None):
    """Runs `call` (which must raise grpc.RpcError) and checks the status code, and that the
    details name `field` when given."""
    try:
        result = call()
    except grpc.RpcError as error:
        check(error.code() == expected_code, f"{what}: status {expected_code.name}",
              f"got {error.code()} ({error.details()})")
        if field is not None:
            check(field in (error.details() or ""), f"{what}: details name '{field}'",
                  f"details: {error.details()!r}")
        return error
    raise AssertionError(f"{what}: expected {expected_code.name}, the call succeeded "
                         f"with {result!r:.200}")


def stream_first_response(stub, request):
    """Opens a Generate stream and reads its first response (raising the stream's error)."""
    return next(iter(stub.Generate(request, timeout=RPC_TIMEOUT_S)))


# ---------------------------------------------------------------------------------------------
# Metrics.

SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$")
LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Scrape:
    """One /metrics page: samples by (name, labels) and metric types by family name."""

    def __init__(self, text):
        self.text = text
        self.samples = {}  # (name, frozenset of (label, value)) -> float
        self.types = {}  # family name -> counter / gauge / histogram / ...
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                parts = line.split()
                if len(parts) >= 4:
                    self.types[parts[2]] = parts[3]
                continue
            if not line or line.startswith("#"):
                continue
            match = SAMPLE_LINE.match(line)
            if not match:
                raise AssertionError(f"unparsable metrics line: {line!r}")
            labels = frozenset(LABEL_PAIR.findall(match.group(3) or ""))
            self.samples[(match.group(1), labels)] = float(match.group(4))

    def total(self, name, **labels):
        """The sum of `name` over every series whose labels include `labels`; 0 when none."""
        wanted = set(labels.items())
        return sum(value for (sample_name, sample_labels), value in self.samples.items()
                   if sample_name == name and wanted <= sample_labels)

    def has(self, name, **labels):
        wanted = set(labels.items())
        return any(sample_name == name and wanted <= sample_labels
                   for sample_name, sample_labels in self.samples)

    def type_of(self, family):
        """The declared type of a family; a counter may be declared with or without _total."""
        if family in self.types:
            return self.types[family]
        if family.endswith("_total"):
            return self.types.get(family[: -len("_total")])
        return None


def scrape(port):
    # No proxy: the metrics endpoint is on loopback whatever the environment says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        if response.status != 200:
            raise AssertionError(f"/metrics answered {response.status}")
        return Scrape(response.read().decode("utf-8"))


# The families the README's metrics table lists.
COUNTERS = ["rattn_prompt_tokens_total", "rattn_generated_tokens_total",
            "rattn_requests_finished_total", "rattn_requests_rejected_total",
            "rattn_preemptions_total", "rattn_folded_tokens_total",
            "rattn_computed_prompt_tokens_total", "rattn_engine_steps_total"]
HISTOGRAMS = ["rattn_time_to_first_token_seconds", "rattn_inter_token_latency_seconds",
              "rattn_request_latency_seconds", "rattn_request_queue_seconds",
              "rattn_request_prefill_seconds", "rattn_request_decode_seconds",
              "rattn_step_duration_seconds", "rattn_step_tokens"]
GAUGES = ["rattn_requests_running", "rattn_requests_waiting", "rattn_requests_preempted",
          "rattn_cache_blocks_used", "rattn_cache_blocks_capacity", "rattn_cache_usage_ratio",
          "rattn_generation_tokens_per_second", "rattn_build_info"]
POOL_GAUGES = ["rattn_cache_blocks_used", "rattn_cache_blocks_capacity",
               "rattn_cache_usage_ratio"]


# ---------------------------------------------------------------------------------------------
# The checks, in the order they run.


REFLECTION_METHOD = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def check_reflection(channel):
    """Server reflection lists the services, as grpcurl and similar tools ask for them."""
    print("[2b] server reflection")
    call = channel.stream_stream(REFLECTION_METHOD, request_serializer=lambda raw: raw,
                                 response_deserializer=lambda raw: raw)
    # ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
    responses = list(call(iter([b"\x3a\x00"]), timeout=RPC_TIMEOUT_S))
    check(len(responses) == 1, "reflection answers a list_services request once",
          f"{len(responses)} responses")
    listed = responses[0] if responses else b""
    for service in (b"rattn.v1.RattnService", b"grpc.health.v1.Health"):
        check(service in listed, f"reflection lists {service.decode()}", f"{listed!r}")


def check_reflection_off(binary, model_dir, work_dir):
    """--reflection=false: a second server process answers the reflection method UNIMPLEMENTED
    (the plugin is per process, so it takes a process of its own)."""
    print("[2c] server reflection switched off")
    server = ServerProcess(binary, model_dir, work_dir, ["--reflection=false"], "no_reflection")
    try:
        server.wait_for_ports()
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}",
                                        options=[("grpc.enable_http_proxy", 0)])
        wait_until_serving(channel, server.process)
        call = channel.stream_stream(REFLECTION_METHOD, request_serializer=lambda raw: raw,
                                     response_deserializer=lambda raw: raw)
        try:
            list(call(iter([b"\x3a\x00"]), timeout=RPC_TIMEOUT_S))
            check(False, "reflection is off with --reflection=false", "it answered")
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.UNIMPLEMENTED,
                  "reflection is off with --reflection=false (UNIMPLEMENTED)", str(error.code()))
        channel.close()
    finally:
        server.kill()


def check_api(stub, model_dir):
    print("[2] the API through a foreign client")

    prompt = "naïve café: the quick brown fox ✓"  # multi-byte characters: bytes != characters
    prompt_bytes = prompt.encode("utf-8")
    request = make_request(text=prompt, max_new_tokens=12, request_id="e2e-stream")
    stream = StreamReader(stub, request)
    stream.run()
    check(stream.error is None, "streaming Generate ends with status OK", f"{stream.error}")
    check(stream.request_ids == {"e2e-stream"}, "every response carries the request id",
          f"{stream.request_ids}")
    check(set(stream.tokens) == {0}, "chunks are of sample 0 only", f"{set(stream.tokens)}")
    check(len(stream.tokens[0]) == 12, "chunks hold 12 token ids in all",
          f"got {len(stream.tokens[0])}")
    check(all(0 <= t < 256 for t in stream.tokens[0]), "token ids are in the vocabulary",
          f"{stream.tokens[0]}")
    check(stream.response_kinds.count("completion") == 1, "exactly one Completion",
          f"{stream.response_kinds}")
    check(stream.response_kinds[-1] == "completion", "the Completion is the last response",
          f"{stream.response_kinds}")
    completion = stream.completions[0]
    check(completion.finish_reason == pb.FINISH_REASON_LENGTH, "finish reason LENGTH",
          finish_reason_name(completion.finish_reason))
    check(completion.prompt_tokens == len(prompt_bytes),
          f"prompt_tokens is the UTF-8 byte length {len(prompt_bytes)}",
          f"got {completion.prompt_tokens}")
    check(completion.completion_tokens == 12, "completion_tokens is 12",
          f"got {completion.completion_tokens}")
    timings = completion.timings
    check(0 < timings.time_to_first_token_seconds <= timings.total_seconds,
          "timings: 0 < time to first token <= total", f"{timings}")

    unary = stub.GenerateUnary(request, timeout=RPC_TIMEOUT_S)
    check(len(unary.samples) == 1, "GenerateUnary returns one sample", f"{len(unary.samples)}")
    check(list(unary.samples[0].token_ids) == stream.tokens[0],
          "GenerateUnary gives the streamed token ids (greedy is deterministic)",
          f"{list(unary.samples[0].token_ids)} vs {stream.tokens[0]}")
    check(unary.samples[0].text == stream.text[0], "GenerateUnary gives the streamed text",
          f"{unary.samples[0].text!r} vs {stream.text[0]!r}")
    check(unary.samples[0].finish_reason == pb.FINISH_REASON_LENGTH,
          "GenerateUnary finish reason LENGTH", finish_reason_name(unary.samples[0].finish_reason))
    check(unary.prompt_tokens == len(prompt_bytes), "GenerateUnary prompt_tokens",
          f"got {unary.prompt_tokens}")

    # A token-id prompt of the same bytes is the same prompt.
    by_ids = stub.GenerateUnary(
        make_request(token_ids=list(prompt_bytes), max_new_tokens=12), timeout=RPC_TIMEOUT_S)
    check(list(by_ids.samples[0].token_ids) == stream.tokens[0],
          "a token-id prompt of the same bytes gives the same tokens",
          f"{list(by_ids.samples[0].token_ids)} vs {stream.tokens[0]}")
    check(by_ids.prompt_tokens == len(prompt_bytes), "token-id prompt: prompt_tokens",
          f"got {by_ids.prompt_tokens}")

    # n = 2 with a seed: sample i uses seed + i, whatever else is in the batch.
    seeded = make_request(text="Once upon a time", max_new_tokens=10, temperature=1.0, n=2,
                          seed=7)
    first = stub.GenerateUnary(seeded, timeout=RPC_TIMEOUT_S)
    again = stub.GenerateUnary(seeded, timeout=RPC_TIMEOUT_S)
    check([s.index for s in first.samples] == [0, 1], "n=2 returns samples 0 and 1 in order",
          f"{[s.index for s in first.samples]}")
    for sample in first.samples:
        check(len(sample.token_ids) == 10 and sample.completion_tokens == 10
              and sample.finish_reason == pb.FINISH_REASON_LENGTH,
              f"n=2 sample {sample.index}: 10 tokens, LENGTH",
              f"{len(sample.token_ids)} tokens, {finish_reason_name(sample.finish_reason)}")
    check(list(first.samples[0].token_ids) != list(first.samples[1].token_ids),
          "the two seeded samples differ", f"both {list(first.samples[0].token_ids)}")
    check([list(s.token_ids) for s in again.samples] == [list(s.token_ids) for s in first.samples],
          "the same seed gives the same samples")
    single = stub.GenerateUnary(
        make_request(text="Once upon a time", max_new_tokens=10, temperature=1.0, seed=8),
        timeout=RPC_TIMEOUT_S)
    check(list(single.samples[0].token_ids) == list(first.samples[1].token_ids),
          "n=1 with seed 8 equals sample 1 of n=2 with seed 7",
          f"{list(single.samples[0].token_ids)} vs {list(first.samples[1].token_ids)}")

    info = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=RPC_TIMEOUT_S)
    check(info.vocab_size == 256, "model info: vocab_size 256", f"{info.vocab_size}")
    check(list(info.layer_types) == LAYER_TYPES, f"model info: layer_types {LAYER_TYPES}",
          f"{list(info.layer_types)}")
    check(info.sliding_window == SLIDING_WINDOW, "model info: sliding_window 16",
          f"{info.sliding_window}")
    check(info.tokenizer == "byte", "model info: byte tokenizer", f"{info.tokenizer!r}")
    check((info.hidden_size, info.num_attention_heads, info.num_key_value_heads, info.head_dim)
          == (64, 4, 2, 16), "model info: hidden 64, heads 4, kv heads 2, head_dim 16",
          f"{info}")
    check(info.model_name == os.path.basename(model_dir), "model info: the directory's name",
          f"{info.model_name!r}")
    check(info.max_context > 0, "model info: max_context > 0", f"{info.max_context}")

    load = stub.GetLoad(pb.GetLoadRequest(), timeout=RPC_TIMEOUT_S)
    check(sorted(p.name for p in load.pools) == sorted(POOLS), f"load: pools {POOLS}",
          f"{[p.name for p in load.pools]}")
    check(load.serving, "load: serving")

    text = "héllo, wörld ✓"
    tokens = stub.Tokenize(pb.TokenizeRequest(text=text), timeout=RPC_TIMEOUT_S).token_ids
    check(list(tokens) == list(text.encode("utf-8")), "Tokenize gives the UTF-8 bytes",
          f"{list(tokens)}")
    detokenized = stub.Detokenize(pb.DetokenizeRequest(token_ids=tokens), timeout=RPC_TIMEOUT_S)
    check(detokenized.text == text, "Detokenize(Tokenize(text)) == text", f"{detokenized.text!r}")
    lone_byte = stub.Detokenize(pb.DetokenizeRequest(token_ids=[0xFF]), timeout=RPC_TIMEOUT_S)
    check(lone_byte.text == "\ufffd", "Detokenize of an invalid UTF-8 byte gives U+FFFD",
          f"{lone_byte.text!r}")

    nan_request = make_request(text="hi", max_new_tokens=4, temperature=math.nan)
    expect_status(lambda: stub.GenerateUnary(nan_request, timeout=RPC_TIMEOUT_S),
                  grpc.StatusCode.INVALID_ARGUMENT, "temperature NaN (unary)", field="temperature")
    top_p_request = make_request(text="hi", max_new_tokens=4, top_p=2.0)
    expect_status(lambda: stream_first_response(stub, top_p_request),
                  grpc.StatusCode.INVALID_ARGUMENT, "top_p 2 (stream, before any response)",
                  field="top_p")


def check_metrics_after_traffic(stub, metrics_port):
    print("[3] scripted traffic, then the counters")
    before = scrape(metrics_port)

    # (prompt, max_new_tokens, n): text prompts are ASCII, so their length is their byte count.
    # The 100-byte prompt is longer than the window, so the local layers must fold.
    traffic = [
        ("abc", 3, 1),
        ("The rain in Spain", 8, 2),
        (bytes(range(40, 140)), 5, 1),
        ("x", 1, 1),
        ("0123456789abcdef0123", 10, 2),
        ([7, 8, 9, 10, 11, 12, 13], 6, 1),
    ]
    futures = []
    for index, (prompt, max_new_tokens, n) in enumerate(traffic):
        if isinstance(prompt, str):
            request = make_request(text=prompt, max_new_tokens=max_new_tokens, n=n,
                                   temperature=0.8, seed=100 + index)
        else:
            request = make_request(token_ids=list(prompt), max_new_tokens=max_new_tokens, n=n,
                                   temperature=0.8, seed=100 + index)
        futures.append(stub.GenerateUnary.future(request, timeout=RPC_TIMEOUT_S))
    invalid = [
        make_request(text="hi", max_new_tokens=4, temperature=-1.0),
        make_request(text="hi", max_new_tokens=4, top_p=2.0),
        make_request(token_ids=[1, 2, 300], max_new_tokens=4),  # 300 is outside the vocabulary
    ]
    for request in invalid:
        expect_status(lambda: stub.GenerateUnary(request, timeout=RPC_TIMEOUT_S),
                      grpc.StatusCode.INVALID_ARGUMENT, "invalid request rejected")
    for future, (prompt, max_new_tokens, n) in zip(futures, traffic):
        result = future.result()
        check(result.prompt_tokens == len(prompt)
              and [len(s.token_ids) for s in result.samples] == [max_new_tokens] * n
              and all(s.finish_reason == pb.FINISH_REASON_LENGTH for s in result.samples),
              f"request of {len(prompt)} prompt tokens: {n} x {max_new_tokens} tokens, LENGTH",
              f"{result}")

    expected = {
        "prompt": sum(len(prompt) for prompt, _, _ in traffic),
        "generated": sum(max_new_tokens * n for _, max_new_tokens, n in traffic),
        "length": sum(n for _, _, n in traffic),
        "requests": len(traffic),
        "rejected": len(invalid),
    }

    def deltas(after):
        def delta(name, **labels):
            return after.total(name, **labels) - before.total(name, **labels)

        return {
            "prompt": delta("rattn_prompt_tokens_total"),
            "generated": delta("rattn_generated_tokens_total"),
            "length": delta("rattn_requests_finished_total", reason="length"),
            "requests": delta("rattn_time_to_first_token_seconds_count"),
            "latency_count": delta("rattn_request_latency_seconds_count"),
            "rejected": delta("rattn_requests_rejected_total", code="invalid_argument"),
            "other_finished": sum(delta("rattn_requests_finished_total", reason=reason)
                                  for reason in ("stop", "eos", "cancelled", "error")),
            "folded": delta("rattn_folded_tokens_total"),
            "preemptions": delta("rattn_preemptions_total"),
            "computed_prompt": delta("rattn_computed_prompt_tokens_total"),
            "steps": delta("rattn_engine_steps_total"),
            "running": after.total("rattn_requests_running"),
        }

    # Counters may trail the responses by a moment; wait until they reach what was sent (and
    # running falls to 0), then require exact equality.
    deadline = time.monotonic() + METRICS_SETTLE_S
    while True:
        after = scrape(metrics_port)
        seen = deltas(after)
        settled = (all(seen[key] >= value for key, value in expected.items())
                   and seen["latency_count"] >= expected["requests"] and seen["running"] == 0)
        if settled or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    print(f"  expected {expected}")
    print(f"  observed {seen}")
    check(seen["prompt"] == expected["prompt"],
          f"rattn_prompt_tokens_total rose by {expected['prompt']}", f"rose by {seen['prompt']}")
    check(seen["generated"] == expected["generated"],
          f"rattn_generated_tokens_total rose by {expected['generated']}",
          f"rose by {seen['generated']}")
    check(seen["length"] == expected["length"],
          f"rattn_requests_finished_total{{reason=\"length\"}} rose by {expected['length']} "
          "(one per sample)", f"rose by {seen['length']}")
    check(seen["other_finished"] == 0, "no other finish reason rose",
          f"rose by {seen['other_finished']}")
    check(seen["rejected"] == expected["rejected"],
          f"rattn_requests_rejected_total{{code=\"invalid_argument\"}} rose by "
          f"{expected['rejected']}", f"rose by {seen['rejected']}")
    check(seen["requests"] == expected["requests"],
          f"rattn_time_to_first_token_seconds_count rose by {expected['requests']} (requests)",
          f"rose by {seen['requests']}")
    check(seen["latency_count"] == expected["requests"],
          f"rattn_request_latency_seconds_count rose by {expected['requests']} (requests)",
          f"rose by {seen['latency_count']}")
    check(seen["preemptions"] == 0, "no preemption under this light load",
          f"{seen['preemptions']} preemptions")
    check(seen["computed_prompt"] == expected["prompt"],
          "without preemption, rattn_computed_prompt_tokens_total rose by the prompt tokens "
          "(samples of one request share its prefill)", f"rose by {seen['computed_prompt']}")
    check(seen["folded"] > 0, "rattn_folded_tokens_total rose (a prompt outgrew the window)",
          f"rose by {seen['folded']}")
    longest = max(max_new_tokens for _, max_new_tokens, _ in traffic)
    check(seen["steps"] >= longest, f"rattn_engine_steps_total rose by at least {longest}",
          f"rose by {seen['steps']}")
    check(seen["running"] == 0, "rattn_requests_running is 0 after the traffic",
          f"{seen['running']}")

    for family in COUNTERS:
        check(after.type_of(family) == "counter", f"{family} is a counter",
              f"declared {after.type_of(family)}")
    for family in HISTOGRAMS:
        check(after.type_of(family) == "histogram" and after.has(family + "_count")
              and after.has(family + "_bucket", le="+Inf"),
              f"{family} is a histogram with _count and a +Inf bucket",
              f"declared {after.type_of(family)}")
    for family in GAUGES:
        check(after.type_of(family) == "gauge", f"{family} is a gauge",
              f"declared {after.type_of(family)}")
    for family in POOL_GAUGES:
        for pool in POOLS:
            check(after.has(family, pool=pool), f"{family}{{pool=\"{pool}\"}} exists")
    for pool in POOLS:
        total = after.total("rattn_cache_blocks_capacity", pool=pool)
        used = after.total("rattn_cache_blocks_used", pool=pool)
        ratio = after.total("rattn_cache_usage_ratio", pool=pool)
        check(total > 0 and 0 <= used <= total and 0.0 <= ratio <= 1.0,
              f"pool {pool}: 0 <= used <= capacity, capacity > 0, ratio in [0, 1]",
              f"used {used}, capacity {total}, ratio {ratio}")
    check(after.total("rattn_build_info") == 1
          and (after.has("rattn_build_info", backend="cpu")
               or after.has("rattn_build_info", backend="cuda")),
          "rattn_build_info is 1 with backend cpu or cuda")
    return after


def check_promtool(promtool, metrics):
    print("[4] promtool check metrics")
    if not promtool:
        print("  skipped: no promtool given (install Debian's prometheus package)")
        return
    if not os.path.exists(promtool):
        print(f"  skipped: {promtool} does not exist")
        return
    result = subprocess.run([promtool, "check", "metrics"], input=metrics.text.encode("utf-8"),
                            capture_output=True, timeout=60)
    output = (result.stdout + result.stderr).decode("utf-8", errors="replace")
    check(result.returncode == 0, "promtool check metrics exits 0", f"output:\n{output}")


def measure_seconds_per_step(stub, prompt, streams):
    """Wall-clock seconds per engine step while `streams` greedy streams decode together, from a
    short calibration run (so it reflects this machine and its current load)."""
    tokens = 128
    readers = [StreamReader(stub, make_request(text=prompt, max_new_tokens=tokens))
               for _ in range(streams)]
    threads = [reader.start_thread() for reader in readers]
    for reader in readers:
        reader.first_chunk.wait(RPC_TIMEOUT_S)
    decode_started = time.monotonic()
    for thread in threads:
        thread.join(RPC_TIMEOUT_S)
    elapsed = time.monotonic() - decode_started
    check(all(reader.error is None and len(reader.tokens.get(0, [])) == tokens
              for reader in readers),
          f"calibration: {streams} streams of {tokens} tokens",
          f"{[reader.error for reader in readers]}")
    return max(elapsed, 1e-3) / (tokens - 1)


def check_drain(stub, channel, server, max_context):
    print("[5] drain on SIGTERM")
    prompt = "drain me"
    stream_count = 3
    seconds_per_step = measure_seconds_per_step(stub, prompt, stream_count)
    # Long enough that the streams outlive the SIGTERM by about DRAIN_STREAM_SECONDS, within
    # the model's context. (Steps slow down as the context grows, which only adds margin.)
    max_new_tokens = int(DRAIN_STREAM_SECONDS / seconds_per_step)
    max_new_tokens = max(64, min(max_new_tokens, max_context - len(prompt) - 1))
    print(f"  {seconds_per_step * 1e3:.2f} ms per step with {stream_count} streams; streams of "
          f"{max_new_tokens} tokens")

    readers = [StreamReader(stub, make_request(text=prompt, max_new_tokens=max_new_tokens,
                                               temperature=1.0, seed=i))
               for i in range(stream_count)]
    threads = [reader.start_thread() for reader in readers]
    for reader in readers:
        check(reader.first_chunk.wait(RPC_TIMEOUT_S) and reader.error is None,
              "a drain stream produced its first chunk", f"{reader.error}")

    sigterm_time = time.monotonic()
    tokens_at_sigterm = [len(reader.tokens.get(0, [])) for reader in readers]
    server.process.send_signal(signal.SIGTERM)
    print(f"  SIGTERM sent; tokens so far per stream: {tokens_at_sigterm}")
    check(all(count < max_new_tokens for count in tokens_at_sigterm),
          "every stream was still generating at SIGTERM", f"{tokens_at_sigterm}")

    # Health turns NOT_SERVING (a refused call also counts: the server takes no new work).
    deadline = time.monotonic() + 5.0
    health = None
    while time.monotonic() < deadline:
        try:
            health = health_status(channel, timeout=2.0)
        except grpc.RpcError as error:
            health = error.code()
        if health != HEALTH_SERVING:
            break
        time.sleep(0.05)
    check(health in (HEALTH_NOT_SERVING, grpc.StatusCode.UNAVAILABLE),
          "health says NOT_SERVING (or refuses the call) after SIGTERM", f"got {health}")

    expect_status(lambda: stream_first_response(stub, make_request(text="late",
                                                                   max_new_tokens=4)),
                  grpc.StatusCode.UNAVAILABLE, "a new Generate while draining")
    still_running = sum(not reader.done.is_set() for reader in readers)
    check(still_running > 0, "the new Generate was refused while streams were in flight",
          "every stream had already ended; the drain streams were too short")

    for thread in threads:
        thread.join(DRAIN_TIMEOUT_S + 5)
    print(f"  streams ended {time.monotonic() - sigterm_time:.2f} s after SIGTERM")
    for i, reader in enumerate(readers):
        check(reader.done.is_set(), f"drain stream {i} ended")
        check(reader.error is None, f"drain stream {i} ends with status OK", f"{reader.error}")
        count = len(reader.tokens.get(0, []))
        check(count == max_new_tokens, f"drain stream {i} got all {max_new_tokens} tokens",
              f"got {count}")
        completion = reader.completions.get(0)
        check(completion is not None and completion.finish_reason == pb.FINISH_REASON_LENGTH,
              f"drain stream {i} finished with LENGTH",
              finish_reason_name(completion.finish_reason) if completion else "no Completion")
        check(any(t > sigterm_time for t in reader.chunk_times),
              f"drain stream {i} received chunks after SIGTERM")

    remaining = DRAIN_TIMEOUT_S + 10 - (time.monotonic() - sigterm_time)
    try:
        status = server.process.wait(timeout=max(remaining, 1.0))
    except subprocess.TimeoutExpired:
        status = None
    check(status == 0, f"the process exits with status 0 within the drain timeout "
          f"({DRAIN_TIMEOUT_S} s)", f"status {status}")
    print(f"  exited {time.monotonic() - sigterm_time:.2f} s after SIGTERM")


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True, help="path to rattn-server")
    parser.add_argument("--make_checkpoint", required=True, help="path to rattn-make-checkpoint")
    parser.add_argument("--stubs", required=True,
                        help="directory holding rattn/v1/rattn_pb2.py and rattn_pb2_grpc.py")
    parser.add_argument("--promtool", default="", help="path to promtool; empty skips step 4")
    args = parser.parse_args()
    # Keep the progress lines in order with the tools' stderr when ctest captures both.
    sys.stdout.reconfigure(line_buffering=True)

    global grpc, pb, pb_grpc
    sys.path.insert(0, args.stubs)
    import grpc as grpc_module
    from rattn.v1 import rattn_pb2, rattn_pb2_grpc
    grpc, pb, pb_grpc = grpc_module, rattn_pb2, rattn_pb2_grpc

    started = time.monotonic()
    failures = []  # (phase, message)
    server = None
    channel = None
    with tempfile.TemporaryDirectory(prefix="rattn-server-test-") as work_dir:
        try:
            print("[1] model and server startup")
            model_dir = os.path.join(work_dir, "tiny-rattn")
            subprocess.run([args.make_checkpoint, f"--out={model_dir}", "--layers=r,r,r,f",
                            "--hidden=64", "--heads=4", "--kv_heads=2",
                            f"--window={SLIDING_WINDOW}", "--seed=1"],
                           check=True, timeout=120)
            server = ServerProcess(args.server, model_dir, work_dir)
            server.wait_for_ports()
            print(f"  gRPC on port {server.grpc_port}, metrics on port {server.metrics_port}")
            # The loopback address is never proxied, whatever the environment says.
            channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}",
                                            options=[("grpc.enable_http_proxy", 0)])
            wait_until_serving(channel, server.process)
            print("  ok: health says SERVING")
            stub = pb_grpc.RattnServiceStub(channel)

            # A failed phase is recorded and the next one still runs, so that one run shows
            # every problem; once the server has died there is nothing left to check.
            scraped = []
            phases = [
                ("api", lambda: check_api(stub, model_dir)),
                ("reflection", lambda: check_reflection(channel)),
                ("reflection off", lambda: check_reflection_off(args.server, model_dir, work_dir)),
                ("metrics", lambda: scraped.append(
                    check_metrics_after_traffic(stub, server.metrics_port))),
                ("promtool", lambda: scraped and check_promtool(args.promtool, scraped[0])),
                ("drain", lambda: check_drain(stub, channel, server, stub.GetModelInfo(
                    pb.GetModelInfoRequest(), timeout=RPC_TIMEOUT_S).max_context)),
            ]
            for name, phase in phases:
                try:
                    phase()
                except (AssertionError, grpc.RpcError) as error:
                    failures.append((name, f"{type(error).__name__}: {error}"))
                    print(f"  FAILED: {error}")
                    if server.process.poll() is not None:
                        break
        except Exception as error:  # noqa: BLE001 -- startup failures end the test the same way
            failures.append(("startup", f"{type(error).__name__}: {error}"))
        finally:
            if failures and server is not None:
                status = server.process.poll()
                print(f"---- server {'running' if status is None else f'exited with {status}'}"
                      "; its log (last 60 lines) ----", file=sys.stderr)
                print("\n".join(server.log_text().splitlines()[-60:]), file=sys.stderr)
            if channel is not None:
                channel.close()
            if server is not None:
                server.kill()
    elapsed = time.monotonic() - started
    if failures:
        print(f"\nFAILED after {elapsed:.1f} s:", file=sys.stderr)
        for name, message in failures:
            print(f"  [{name}] {message}", file=sys.stderr)
        return 1
    print(f"\nPASSED in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
