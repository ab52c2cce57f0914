"""Our speed against what a user would pick instead: Hugging Face ``generate``, a plain HF training step, TRL's GRPO.

Question: on the same model and the same task, is this package faster than the standard Hugging Face / TRL route?

    taskset -c 1 python benchmarks/peer_speed.py                 # the defaults below; ~1.5 min on one core
    python benchmarks/peer_speed.py --tiny --out /tmp/peer.json  # tiny sizes, ~20 s (what the test suite runs)

Options: ``--d`` (12), ``--batch`` (256), ``--pairs`` (runs per side, 5), ``--grpo-steps`` (timed GRPO steps per run,
10), ``--ntp-steps`` (timed NTP steps per run, 10), ``--gen-calls`` (generation calls per run, 20), ``--out``
(runs/benchmarks/peer_speed.json), ``--tiny``. Needs the ``[hf]`` extra and TRL (``pip install 'parity-cot[hf]'
trl``); exits 2 with that line when either is missing. Nothing is downloaded (``HF_HUB_OFFLINE=1``): every model is
built from a config, the tokenizer TRL needs is built in memory.

The model. A tiny Llama built from a config (hidden 64, 2 layers, 4 heads, intermediate 128, vocab = the task's 5
tokens; random weights, seed 0): the ``hf`` agent (``agents.models.hf``) wraps it on our side, and the very same
architecture and weights are handed to transformers / TRL on theirs. Our default ``gpt`` agent (``agents.models.gpt``)
at the same width, depth and heads (d_model 64, 2 layers, 4 heads) is run on our side as a third column where the job
allows it ("ours (gpt)"); its ratios are against the same HF/TRL Llama, so they compare two routes, not two
implementations of one model (the parameter counts are in the JSON). One torch thread (``torch.set_num_threads(1)``).
Runs alternate (ours, theirs, ours-gpt, ours, theirs, ...), each side starting from the same weights; we report every
run's time, the median rate per side and each pair's ratio ours / theirs (> 1: we are faster).

1. Generation (tokens generated per second, EOS included, padding not). Ours:
   ``agents.models.generate.generate(agent, task, prompts, temperature=1.0)`` (incremental decoding through
   transformers' ``DynamicCache`` for the hf agent, the GPT's own KV cache for gpt; finished rows are dropped from the
   batch once at most half of them still run). The hf agent calls the Llama's own modules (embedding, rotary
   embedding, decoder layers, norm, head) in the order ``LlamaModel.forward`` does but without its per-call wrappers,
   the mask function (whose mask is None here) and the output dataclasses, decodes in inference mode, and reads a
   prompt repeated in the batch once (GRPO's groups); all bit-identical to the library's forward
   (``agents/models/hf.py``).
   Theirs: ``model.generate(input_ids, attention_mask, do_sample=True, max_new_tokens=task.max_response_len,
   eos_token_id=EOS, pad_token_id=PAD, suppress_tokens=[SEP, PAD])`` of the same model: ``suppress_tokens`` (a logits
   processor) restricts the sampling to the tokens an agent emits (0, 1, EOS), so both sides sample one distribution.
   Both stop a batch once every row has emitted EOS. Batch ``--batch`` of d-bit prompts; a run is ``--gen-calls``
   calls on fresh prompts, the same prompts on both sides, after one warm-up call per side at the full batch.
2. One next-token-prediction training step (demonstrations per second). Ours: the step of ``agents.ntp.pretrain`` (its
   ``_split_batch`` and ``_loss``: short and long rows cut after their longest response, logits only from the last
   prompt position on through ``logits_from``), backward, gradient clipping, AdamW (its divergence checks, one
   reduction and one sync each, are left out). Theirs: the plain causal-LM step
   ``model(input_ids=tokens, labels=labels).loss`` (labels -100 outside the response), backward, gradient clipping,
   AdamW (same hyper-parameters). The same pre-sampled demonstrations (d = ``--d``, p_long 0.25) on both sides; a run
   is ``--ntp-steps`` steps.
3. GRPO (completions per second). Ours: ``agents.rl.finetune(agent, FinetuneConfig(algo="grpo", group_size=8,
   batch_size=B))`` (collection through the TorchRL env, then one step of TorchRL's ``GRPOLoss``). Theirs: TRL's
   ``GRPOTrainer`` (no vLLM) with ``num_generations=8``, ``per_device_train_batch_size=B`` (B completions = B / 8
   prompts per step, one optimizer step per generation batch), ``max_completion_length=d + 1``, ``beta=0`` (no
   reference model), the answer reward (``Task.judge``) as a Python reward function, ``suppress_tokens=[SEP, PAD]``
   for the sampling, fp32, no gradient checkpointing, the same learning rate (constant), betas, clipping range (0.2)
   and gradient clip. A run is a fresh trainer (set up outside the timing), one warm-up step, then ``--grpo-steps``
   timed steps: from the end of the warm-up step to the end of the last step (TRL: ``on_step_end`` callback
   timestamps; ours: the ``wall_s`` of FinetuneResult.log), every per-step cost of both loops included. The JSON also
   says where each step's time goes: ours from the log (collection = response tokens / ``collect_tokens_per_s``,
   update = ``step_time_s`` - collection) and from a direct timing of one update (scoring forward, backward,
   optimizer); TRL's by timing its ``_generate_single_turn`` and ``_calculate_rewards`` methods on the trainer.

4. Where the time goes (``profile`` of each job): after the timed runs, one more run per side (ours with the hf Llama,
   theirs) with a ``LayerClock``: the seconds inside the Llama's own decoder layers (every ``LlamaDecoderLayer``
   call, and each layer's backward), which both sides run alike, as a share of the run's time. What is left of ours
   outside that share is all that a faster implementation of this package can still cut on the identical model.

What is NOT comparable, plainly:

- TRL's bookkeeping is part of its step and is counted: per-step metrics (completion lengths, reward statistics,
  entropy, clip ratios, each gathered through ``accelerate``), the decode of every completion to text
  (``batch_decode``), the prompt and completion logs it keeps, the Trainer's callbacks and logging (``logging_steps=1``,
  the printer removed). Ours logs one line per step too (reward, lengths, entropy, rates) but keeps no text.
- TRL scores the completions over the whole vocabulary (5 tokens: its log-probabilities and entropy also count SEP and
  PAD, which its sampling suppressed); ours over the 3 emit-able tokens. TRL tokenizes string prompts (a WordLevel
  tokenizer over the 5 tokens, built in memory); ours reads token ids from the env. TRL pads the completions to the
  longest one in the batch; ours scores all d + 1 response slots. These are part of each route and are counted.
- ``model.generate`` keeps every row in the batch until all rows are done; ours drops finished rows. That is the
  difference being measured, not an unfairness.
- The plain HF NTP step runs every row over the whole sequence (d + 1 + d + 1 tokens); ours cuts the short rows after
  their answer. A user could write that too; the plain step is what the HF route does without it.
- Random weights: the answers' lengths are those of an untrained model (about 3 tokens, EOS included), the same
  distribution on both sides, but not those of a pre-trained one. GRPO changes the weights as it runs, differently
  on the two sides, so the later steps' completion lengths differ a little; rates are per completion.
- TRL's defaults on this CPU would be bf16 autocast and gradient checkpointing; both are turned off here (ours uses
  neither), so its numbers are for the same fp32 computation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever downloaded
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python benchmarks/peer_speed.py` from a checkout without an install
    sys.path.insert(1, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

STARTED = time.perf_counter()
INSTALL = "pip install 'parity-cot[hf]' trl"
LLAMA = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 4, "intermediate_size": 128}
GPT = {"n_layer": 2, "d_model": 64, "n_head": 4}
TINY_LLAMA = {"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
              "num_key_value_heads": 2, "intermediate_size": 64}
TINY_GPT = {"n_layer": 1, "d_model": 32, "n_head": 2}
SIDES = ("ours", "theirs", "ours_gpt")


def require_hf() -> None:
    """Exit 2 with one line when transformers or TRL (or what TRL needs) is missing."""
    try:
        import datasets  # noqa: F401
        import tokenizers  # noqa: F401
        import transformers  # noqa: F401
        import trl  # noqa: F401
    except ImportError as e:
        print(f"peer_speed: needs transformers and trl ({e}): {INSTALL}", file=sys.stderr)
        sys.exit(2)


# ------------------------------------------------------------------------------------------------------- plumbing
def hardware() -> dict:
    """What the numbers were measured on, with the versions of both sides' libraries (``agents.jobs.machine``)."""
    from agents.jobs.machine import hardware as machine

    return machine(packages=("transformers", "trl", "accelerate", "datasets", "tokenizers", "torchrl", "tensordict",
                             "numpy"))


def summary(rates: list[float], times: list[float], unit: str, counts: list[int]) -> dict:
    return {"unit": unit, "rates": rates, "median_rate": statistics.median(rates), "times_s": times,
            "median_time_s": statistics.median(times), "counts": counts}


def build(task, name: str, config: dict, seed: int = 0):
    """The agent ``name`` with ``config``, its weights drawn from ``seed`` (the same weights every call)."""
    from agents.models.registry import make_agent

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make_agent(name, task, **config)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class LayerClock:
    """Seconds spent inside the Llama's own decoder layers while on (``with LayerClock() as clock:``), on both sides.

    ``forward_s``: perf_counter around every ``LlamaDecoderLayer`` call (``step_s`` the calls on one new token, i.e.
    decoding steps; the others are prefills and full passes). ``backward_s``: from the moment the gradient of a layer's
    output is ready to the moment that of its input is (tensor hooks; autograd runs the layer's nodes in between, on
    this one thread). With ``armed=False`` nothing counts until the first optimizer step ends (GRPO: the warm-up step).
    The clocked runs are extra runs, not the timed ones.
    """

    def __init__(self, armed: bool = True):
        self.forward_s = self.step_s = self.backward_s = 0.0
        self.armed = armed
        self._handles: list = []

    def __enter__(self) -> LayerClock:
        from torch.optim.optimizer import register_optimizer_step_post_hook
        from transformers.models.llama.modeling_llama import LlamaDecoderLayer

        self._forward = original = LlamaDecoderLayer.__dict__["forward"]
        clock = self

        def forward(layer, hidden_states, *args, **kwargs):
            t0 = time.perf_counter()
            out = original(layer, hidden_states, *args, **kwargs)
            if clock.armed:
                dt = time.perf_counter() - t0
                clock.forward_s += dt
                clock.step_s += dt if hidden_states.shape[1] == 1 else 0.0
                if out.requires_grad and hidden_states.requires_grad:
                    clock._time_backward(out, hidden_states)
            return out

        LlamaDecoderLayer.forward = forward
        if not self.armed:
            self._handles.append(register_optimizer_step_post_hook(self._arm))
        return self

    def __exit__(self, *exc) -> None:
        from transformers.models.llama.modeling_llama import LlamaDecoderLayer

        LlamaDecoderLayer.forward = self._forward
        for handle in self._handles:
            handle.remove()

    def _arm(self, *args) -> None:
        self.armed = True

    def _time_backward(self, out: torch.Tensor, inp: torch.Tensor) -> None:
        started: list[float] = []

        def output_grad_ready(grad):
            started.append(time.perf_counter())

        def input_grad_ready(grad):
            if started:
                self.backward_s += time.perf_counter() - started.pop()

        out.register_hook(output_grad_ready)
        inp.register_hook(input_grad_ready)

    def share(self, time_s: float) -> dict:
        """The clock's seconds and the decoder layers' shares of ``time_s``, the run they were counted in."""
        full = self.forward_s - self.step_s
        return {"time_s": time_s, "layers_forward_s": self.forward_s, "layers_step_s": self.step_s,
                "layers_full_s": full, "layers_backward_s": self.backward_s,
                "layers_share": (self.forward_s + self.backward_s) / time_s, "layers_step_share": self.step_s / time_s,
                "layers_full_share": full / time_s, "layers_backward_share": self.backward_s / time_s}


PROFILE_NOTE = (
    "one extra run per side after the timed ones (LayerClock): the time inside the Llama's own decoder layers "
    "(LlamaDecoderLayer calls, and each layer's backward: from its output's gradient to its input's), which both "
    "sides run alike; layers_share = (layers_forward_s + layers_backward_s) / time_s, the run's timed window; "
    "layers_step_s: the forward calls on one new token (decoding steps), layers_full_s the others (prefills and full "
    "passes); each *_share is that time over time_s.")


# ----------------------------------------------------------------------------------------- 1. generation
def gen_ours(agent, task, prompt_batches, seed: int) -> tuple[float, int]:
    from agents.models.generate import generate

    agent.eval()
    g = torch.Generator().manual_seed(seed)
    tokens = 0
    t0 = time.perf_counter()
    for prompts in prompt_batches:
        tokens += int(generate(agent, task, prompts, temperature=1.0, generator=g).lengths.sum())
    return time.perf_counter() - t0, tokens


def gen_theirs(model, task, prompt_batches, seed: int) -> tuple[float, int]:
    model.eval()
    torch.manual_seed(seed)  # model.generate samples from the global generator
    P, sep = task.prompt_len, task.eos + 1
    tokens = 0
    t0 = time.perf_counter()
    for prompts in prompt_batches:
        out = model.generate(input_ids=prompts, attention_mask=torch.ones_like(prompts), do_sample=True,
                             max_new_tokens=task.max_response_len, eos_token_id=task.eos, pad_token_id=task.pad,
                             suppress_tokens=[sep, task.pad], temperature=1.0)
        tokens += int((out[:, P:] != task.pad).sum())  # PAD is never sampled: it only fills after EOS
    return time.perf_counter() - t0, tokens


def compare_generation(task, models: dict, batch: int, calls: int, pairs: int) -> dict:
    rng = np.random.default_rng(12345)
    warm = [task.sample_prompts(batch, rng)[1]]  # the full batch: neither side's first timed run grows the heap
    gen_ours(models["ours"], task, warm, 0), gen_theirs(models["theirs"].model, task, warm, 0)
    gen_ours(models["ours_gpt"], task, warm, 0)
    times = {s: [] for s in SIDES}
    counts = {s: [] for s in SIDES}
    for i in range(pairs):
        prompts = [task.sample_prompts(batch, rng)[1] for _ in range(calls)]
        for side in SIDES:
            if side == "theirs":
                dt, n = gen_theirs(models[side].model, task, prompts, seed=i)
            else:
                dt, n = gen_ours(models[side], task, prompts, seed=i)
            times[side].append(dt)
            counts[side].append(n)
    result = _compare(times, counts, "generated tokens / s (EOS included)",
                      {"batch": batch, "calls_per_run": calls, "max_new_tokens": task.max_response_len})
    prompts = [task.sample_prompts(batch, rng)[1] for _ in range(calls)]
    result["profile"] = {"note": PROFILE_NOTE}
    for side in ("ours", "theirs"):
        with LayerClock() as clock:
            dt, _ = (gen_theirs(models[side].model, task, prompts, pairs) if side == "theirs"
                     else gen_ours(models[side], task, prompts, pairs))
        result["profile"][side] = clock.share(dt)
    return result


# ----------------------------------------------------------------------------------------- 2. NTP step
def ntp_ours(agent, optimizer, task, batches) -> float:
    from agents.ntp.pretrain import _loss, _split_batch

    normaliser = batches[0][0].shape[0] * task.expected_response_tokens
    rng = np.random.default_rng(0)  # only used with short_rows (None here)
    device = torch.device("cpu")
    params = list(agent.parameters())
    agent.train()
    t0 = time.perf_counter()
    for tokens, mask, is_long in batches:
        parts = _split_batch(tokens, mask, is_long, task.prompt_len, None, rng)
        loss, _ = _loss(agent, parts, normaliser, task.prompt_len, device, False)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
    return time.perf_counter() - t0


def ntp_theirs(model, optimizer, task, batches) -> float:
    params = list(model.parameters())
    model.train()
    t0 = time.perf_counter()
    for tokens, mask, _ in batches:
        input_ids = torch.from_numpy(tokens)
        labels = torch.from_numpy(np.where(mask, tokens, -100))
        loss = model(input_ids=input_ids, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def compare_ntp(task, models: dict, batch: int, steps: int, pairs: int) -> dict:
    from agents.ntp.pretrain import PretrainConfig

    pc = PretrainConfig(task=task)
    nets = {"ours": models["ours"], "theirs": models["theirs"].model, "ours_gpt": models["ours_gpt"]}
    opts = {s: torch.optim.AdamW(m.parameters(), lr=pc.lr, betas=pc.betas, weight_decay=pc.weight_decay)
            for s, m in nets.items()}
    run = {"ours": ntp_ours, "theirs": ntp_theirs, "ours_gpt": ntp_ours}
    rng = np.random.default_rng(54321)
    warm = [task.sample_demonstrations(batch, seed=rng)]
    for side in SIDES:
        run[side](nets[side], opts[side], task, warm)
    times = {s: [] for s in SIDES}
    counts = {s: [] for s in SIDES}
    for _ in range(pairs):
        batches = [task.sample_demonstrations(batch, seed=rng) for _ in range(steps)]
        for side in SIDES:
            times[side].append(run[side](nets[side], opts[side], task, batches))
            counts[side].append(batch * steps)
    result = _compare(times, counts, "demonstrations / s",
                      {"batch": batch, "steps_per_run": steps, "p_long": task.p_long, "lr": pc.lr,
                       "betas": list(pc.betas), "grad_clip": 1.0})
    batches = [task.sample_demonstrations(batch, seed=rng) for _ in range(steps)]
    result["profile"] = {"note": PROFILE_NOTE}
    for side in ("ours", "theirs"):
        with LayerClock() as clock:
            dt = run[side](nets[side], opts[side], task, batches)
        result["profile"][side] = clock.share(dt)
    result["profile"]["positions_per_step"] = ntp_positions(task, batches)
    return result


def ntp_positions(task, batches) -> dict:
    """Input positions each side runs through the model per step (mean over ``batches``): ours cuts rows after their
    responses (``_split_batch``), the plain step reads every row whole."""
    from agents.ntp.pretrain import _split_batch

    rng = np.random.default_rng(0)
    ours = [sum(inputs.size for inputs, _, _ in _split_batch(tokens, mask, is_long, task.prompt_len, None, rng))
            for tokens, mask, is_long in batches]
    return {"ours": statistics.mean(ours), "theirs": statistics.mean(tokens.size for tokens, _, _ in batches),
            "note": "positions read per step: ours the short and long parts' inputs, theirs every row's tokens"}


# ----------------------------------------------------------------------------------------- 3. GRPO
GROUP = 8
LR = 3e-4  # our GRPO default (agents/rl/algorithms/grpo.py)


def grpo_ours(task, name: str, config: dict, batch: int, steps: int, seed: int) -> dict:
    from agents.rl import FinetuneConfig, finetune

    agent = build(task, name, config)
    cfg = FinetuneConfig(algo="grpo", batch_size=batch, group_size=GROUP, steps=steps + 1, lr=LR,
                         eval_every=10**9, eval_n=8, final_eval_n=0, checkpoint_every=10**9, seed=seed, threads=1)
    log = finetune(agent, cfg, task=task, progress=False).log
    timed = log[1:]  # after the warm-up step
    elapsed = log[-1]["wall_s"] - log[0]["wall_s"]
    # response tokens of a step: every row emits answer_length bits and an EOS (a truncated row has no EOS: with
    # random weights (2/3)^(d+1) of the rows, so this overcounts by well under 1%)
    tokens = [batch * (e["mean_length"] + 1) for e in timed]
    collect = [n / e["collect_tokens_per_s"] for n, e in zip(tokens, timed)]
    step = [e["step_time_s"] for e in timed]
    return {"time_s": elapsed, "completions": batch * steps, "step_time_s": statistics.mean(step),
            "collect_s": statistics.mean(collect), "update_s": statistics.mean(s - c for s, c in zip(step, collect)),
            "collect_tokens_per_s": statistics.mean(e["collect_tokens_per_s"] for e in timed),
            "response_tokens_per_step": statistics.mean(tokens)}


def tokenizer(task):
    """A WordLevel tokenizer over the task's 5 tokens, built in memory: "0 1 1 <sep>" -> [0, 1, 1, 3]."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    names = ["0", "1", "<eos>", "<sep>", "<pad>"]
    assert len(names) == task.vocab_size and names.index("<eos>") == task.eos and names.index("<pad>") == task.pad
    core = Tokenizer(models.WordLevel({n: i for i, n in enumerate(names)}, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece()  # joins the words with spaces
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", pad_token="<pad>", unk_token="<pad>",
                                   padding_side="left"), names


def grpo_theirs(task, config: dict, batch: int, steps: int, seed: int) -> dict:
    from datasets import Dataset
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback
    from trl import GRPOConfig, GRPOTrainer

    model = build(task, "hf", config).model  # the bare transformers model, same weights as ours
    tok, names = tokenizer(task)
    rng = np.random.default_rng(seed)
    bits, prompts = task.sample_prompts(batch // GROUP * (steps + 1), rng)
    data = Dataset.from_dict({"prompt": [" ".join(names[t] for t in row) for row in prompts.tolist()],
                              "bits": bits.tolist()})
    R = task.max_response_len
    stamps: list[float] = []
    spent = {"generate_s": 0.0, "reward_s": 0.0, "completion_tokens": 0}

    def answer_reward(prompts, completions, completion_ids, bits, **kwargs) -> list[float]:
        responses = torch.full((len(completion_ids), R), task.pad, dtype=torch.long)  # PAD after EOS
        for i, ids in enumerate(completion_ids):
            responses[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        if len(stamps) >= 1:
            spent["completion_tokens"] += sum(len(ids) for ids in completion_ids)
        return task.judge(np.asarray(bits), responses).answer_correct.float().tolist()

    class Stamps(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(
            output_dir=out, per_device_train_batch_size=batch, num_generations=GROUP, max_completion_length=R,
            beta=0.0, use_cpu=True, bf16=False, activation_checkpointing=False, learning_rate=LR,
            lr_scheduler_type="constant", adam_beta1=0.9, adam_beta2=0.98, weight_decay=0.0, max_grad_norm=1.0,
            epsilon=0.2, max_steps=steps + 1, logging_steps=1, report_to="none", save_strategy="no",
            disable_tqdm=True, seed=seed, dataloader_num_workers=0,
            generation_kwargs={"suppress_tokens": [task.eos + 1, task.pad]})  # sample 0, 1, EOS only
        trainer = GRPOTrainer(model=model, reward_funcs=answer_reward, args=args, train_dataset=data,
                              processing_class=tok, callbacks=[Stamps()])
        trainer.remove_callback(PrinterCallback)
        _time_method(trainer, "_generate_single_turn", spent, "generate_s", stamps)
        _time_method(trainer, "_calculate_rewards", spent, "reward_s", stamps)
        trainer.train()
    if len(stamps) != steps + 1:
        raise RuntimeError(f"TRL ran {len(stamps)} steps; expected {steps + 1}")
    elapsed = stamps[-1] - stamps[0]
    return {"time_s": elapsed, "completions": batch * steps, "step_time_s": elapsed / steps,
            "generate_s": spent["generate_s"] / steps, "reward_s": spent["reward_s"] / steps,
            "rest_s": (elapsed - spent["generate_s"] - spent["reward_s"]) / steps,
            "completion_tokens_per_step": spent["completion_tokens"] / steps,
            "generate_tokens_per_s": spent["completion_tokens"] / max(spent["generate_s"], 1e-9)}


def _time_method(obj, name: str, spent: dict, key: str, stamps: list) -> None:
    """Wrap ``obj.name`` (an instance attribute shadowing the method) to add its time after the warm-up step."""
    method = getattr(obj, name)

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            if stamps:  # the warm-up step has ended
                spent[key] += time.perf_counter() - t0

    setattr(obj, name, timed)


def update_anatomy(task, name: str, config: dict, batch: int, repeats: int = 3) -> dict:
    """Our GRPO update taken apart on one collected batch: the loss (its scoring forward pass included), backward,
    gradient clipping and AdamW, each the median of ``repeats`` after a warm-up."""
    from agents.rl import EpisodeCollector, FinetuneConfig
    from agents.rl.algorithms import build_algorithm

    agent = build(task, name, config)
    cfg = FinetuneConfig(algo="grpo", batch_size=batch, group_size=GROUP, lr=LR)
    algorithm = build_algorithm("grpo", agent, task, cfg)
    params = [p for p in agent.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.98), weight_decay=0.0)
    env = task.make_env(batch, seed=0, group_size=GROUP)
    collector = EpisodeCollector(env, agent, task, 1.0, torch.Generator().manual_seed(0))
    parts = {"collect_s": [], "loss_forward_s": [], "backward_s": [], "clip_and_adamw_s": []}
    for rep in range(repeats + 1):
        t0 = time.perf_counter()
        episodes = collector.collect()
        t1 = time.perf_counter()
        out = algorithm.loss(algorithm.prepare(episodes))
        loss = sum(v for k, v in out.items() if k.startswith("loss_"))
        t2 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        t4 = time.perf_counter()
        if rep:
            for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                parts[key].append(dt)
    return {k: statistics.median(v) for k, v in parts.items()}


def compare_grpo(task, configs: dict, batch: int, steps: int, pairs: int) -> dict:
    runs = {s: [] for s in SIDES}
    for i in range(pairs):
        runs["ours"].append(grpo_ours(task, "hf", configs["ours"], batch, steps, seed=i))
        runs["theirs"].append(grpo_theirs(task, configs["theirs"], batch, steps, seed=i))
        runs["ours_gpt"].append(grpo_ours(task, "gpt", configs["ours_gpt"], batch, steps, seed=i))
    times = {s: [r["time_s"] for r in runs[s]] for s in SIDES}
    counts = {s: [r["completions"] for r in runs[s]] for s in SIDES}
    result = _compare(times, counts, "completions / s",
                      {"batch": batch, "group_size": GROUP, "prompts_per_step": batch // GROUP,
                       "timed_steps_per_run": steps, "warmup_steps": 1, "max_completion_length": task.max_response_len,
                       "lr": LR, "beta": 0.0})
    for side in SIDES:
        result[side]["runs"] = runs[side]
        median_run = sorted(runs[side], key=lambda r: r["time_s"])[len(runs[side]) // 2]  # its parts add up
        result[side]["per_step_median_run"] = {k: v for k, v in median_run.items() if k not in ("time_s",
                                                                                               "completions")}
    result["ours"]["per_step_note"] = (
        "per-step means over the timed steps of the run with the median time: step_time_s and "
        "collect_tokens_per_s from FinetuneResult.log; collect_s = response tokens / collect_tokens_per_s, "
        "response tokens = batch x (mean answer length + 1); update_s = step_time_s - collect_s (advantage, "
        "GRPOLoss forward, backward, AdamW)")
    result["ours"]["update_anatomy_note"] = "one collected batch, fresh weights: median of 3 after a warm-up"
    result["theirs"]["per_step_note"] = (
        "per-step means of the run with the median time: step_time_s = timed window / steps; generate_s = "
        "GRPOTrainer._generate_single_turn (model.generate and the cut after EOS); reward_s = _calculate_rewards; "
        "rest_s = everything else (tokenizing, decoding, padding, advantages, metrics, the scoring forward, "
        "backward, AdamW, the Trainer loop)")
    result["profile"] = {"note": PROFILE_NOTE + " GRPO: counted from the end of the warm-up step's optimizer step."}
    for side in ("ours", "theirs"):
        with LayerClock(armed=False) as clock:
            run = (grpo_theirs(task, configs[side], batch, steps, seed=pairs) if side == "theirs"
                   else grpo_ours(task, "hf", configs[side], batch, steps, seed=pairs))
        result["profile"][side] = clock.share(run["time_s"])
    result["ours"]["update_anatomy"] = update_anatomy(task, "hf", configs["ours"], batch)
    result["ours_gpt"]["update_anatomy"] = update_anatomy(task, "gpt", configs["ours_gpt"], batch)
    result["target"] = {"what": "ours (hf llama) at least 2x TRL's completions per second",
                        "median_ratio": result["median_ratio"], "met": result["median_ratio"] >= 2.0}
    return result


def _compare(times: dict, counts: dict, unit: str, setup: dict) -> dict:
    rates = {s: [c / t for c, t in zip(counts[s], times[s])] for s in SIDES}
    result = {"setup": setup}
    for side in SIDES:
        result[side] = summary(rates[side], times[side], unit, counts[side])
    result["ratios"] = [a / b for a, b in zip(rates["ours"], rates["theirs"])]  # per pair: ours / theirs
    result["median_ratio"] = statistics.median(result["ratios"])
    result["ratios_gpt"] = [a / b for a, b in zip(rates["ours_gpt"], rates["theirs"])]
    result["median_ratio_gpt"] = statistics.median(result["ratios_gpt"])
    return result


# ----------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=None, help="prompt bits (default 12; --tiny: 6)")
    parser.add_argument("--batch", type=int, default=None, help="rows per batch / completions per GRPO step "
                        "(default 256; --tiny: 32); a multiple of 8")
    parser.add_argument("--pairs", type=int, default=None, help="runs per side, alternated (default 5; --tiny: 2)")
    parser.add_argument("--grpo-steps", type=int, default=None, help="timed GRPO steps per run after one warm-up "
                        "step (default 10; --tiny: 2)")
    parser.add_argument("--ntp-steps", type=int, default=None, help="NTP steps per run (default 10; --tiny: 2)")
    parser.add_argument("--gen-calls", type=int, default=None, help="generation calls per run (default 20; --tiny: 2)")
    parser.add_argument("--tiny", action="store_true", help="tiny models and sizes (the test suite's ~20 s run)")
    parser.add_argument("--out", default="runs/benchmarks/peer_speed.json", help="JSON path")
    args = parser.parse_args(argv)
    require_hf()
    tiny = args.tiny
    d = args.d or (6 if tiny else 12)
    batch = args.batch or (32 if tiny else 256)
    pairs = args.pairs or (2 if tiny else 5)
    grpo_steps = args.grpo_steps or (2 if tiny else 10)
    ntp_steps = args.ntp_steps or (2 if tiny else 10)
    gen_calls = args.gen_calls or (2 if tiny else 20)
    if batch % GROUP:
        parser.error(f"--batch must be a multiple of the group size {GROUP}; got {batch}")
    for name, value in (("--d", d), ("--pairs", pairs), ("--grpo-steps", grpo_steps), ("--ntp-steps", ntp_steps),
                        ("--gen-calls", gen_calls)):
        if value < (2 if name == "--d" else 1):
            parser.error(f"{name} must be at least {2 if name == '--d' else 1}; got {value}")

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*(gradient|activation)_checkpointing.*", category=FutureWarning)
    import transformers

    transformers.logging.set_verbosity_error()
    from parity_env import Task

    task = Task(d=d, p_long=0.25)
    configs = {"ours": TINY_LLAMA if tiny else LLAMA, "theirs": TINY_LLAMA if tiny else LLAMA,
               "ours_gpt": TINY_GPT if tiny else GPT}
    models = {"ours": build(task, "hf", configs["ours"]), "theirs": build(task, "hf", configs["theirs"]),
              "ours_gpt": build(task, "gpt", configs["ours_gpt"])}
    hw_start = hardware()
    print(f"peer_speed: d = {d}, batch {batch}, {pairs} pairs; llama {n_params(models['ours'])} parameters, gpt "
          f"{n_params(models['ours_gpt'])}; {hw_start['cpu']}, {hw_start['torch_threads']} torch thread(s), load "
          f"{hw_start['load_average_1min']:.2f}", flush=True)

    comparisons = {}
    t0 = time.perf_counter()
    comparisons["generation"] = compare_generation(task, models, batch, gen_calls, pairs)
    print(f"  generation done ({time.perf_counter() - t0:.0f} s)", flush=True)
    t0 = time.perf_counter()
    comparisons["ntp_step"] = compare_ntp(task, models, batch, ntp_steps, pairs)
    print(f"  NTP step done ({time.perf_counter() - t0:.0f} s)", flush=True)
    t0 = time.perf_counter()
    comparisons["grpo"] = compare_grpo(task, configs, batch, grpo_steps, pairs)
    print(f"  GRPO done ({time.perf_counter() - t0:.0f} s)", flush=True)

    hw = hardware()
    hw["load_average_1min_start"] = hw_start["load_average_1min"]
    result = {
        "benchmark": "peer_speed",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "hardware": hw,
        "task": task.to_dict(),
        "settings": {"d": d, "batch": batch, "pairs": pairs, "grpo_steps": grpo_steps, "ntp_steps": ntp_steps,
                     "gen_calls": gen_calls, "tiny": tiny, "order": list(SIDES)},
        "models": {
            "llama": {"config": configs["ours"], "parameters": n_params(models["ours"]),
                      "attention": models["ours"].model.config._attn_implementation,
                      "used_by": ["ours", "theirs"]},
            "gpt": {"config": configs["ours_gpt"], "parameters": n_params(models["ours_gpt"]), "used_by": ["ours_gpt"]},
        },
        "comparisons": comparisons,
        "wall_time_s": time.perf_counter() - STARTED,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print_table(result)
    print(f"wrote {out} ({result['wall_time_s']:.0f} s)")
    return 0


def print_table(result: dict) -> None:
    c = result["comparisons"]
    rows = [("generation", "tokens/s"), ("ntp_step", "demos/s"), ("grpo", "completions/s")]
    print(f"\n{'comparison':<12} {'unit':<14} {'ours (hf)':>11} {'HF/TRL':>11} {'ratio':>7} {'[min, max]':>14}"
          f" {'ours (gpt)':>11} {'ratio':>7}")
    for key, unit in rows:
        r = c[key]
        spread = f"[{min(r['ratios']):.2f}, {max(r['ratios']):.2f}]"
        print(f"{key:<12} {unit:<14} {r['ours']['median_rate']:>11,.0f} {r['theirs']['median_rate']:>11,.0f} "
              f"{r['median_ratio']:>6.2f}x {spread:>14} {r['ours_gpt']['median_rate']:>11,.0f} "
              f"{r['median_ratio_gpt']:>6.2f}x")
    g = c["grpo"]
    o, t = g["ours"]["per_step_median_run"], g["theirs"]["per_step_median_run"]
    a = g["ours"]["update_anatomy"]
    print(f"\nGRPO step, ours (hf llama): {o['step_time_s'] * 1e3:.0f} ms = collection {o['collect_s'] * 1e3:.0f} ms "
          f"+ update {o['update_s'] * 1e3:.0f} ms (one update taken apart: loss forward {a['loss_forward_s'] * 1e3:.0f}"
          f" ms, backward {a['backward_s'] * 1e3:.0f} ms, clip + AdamW {a['clip_and_adamw_s'] * 1e3:.0f} ms)")
    print(f"GRPO step, TRL:              {t['step_time_s'] * 1e3:.0f} ms = generate {t['generate_s'] * 1e3:.0f} ms "
          f"+ reward {t['reward_s'] * 1e3:.0f} ms + the rest (scoring, loss, backward, AdamW, bookkeeping) "
          f"{t['rest_s'] * 1e3:.0f} ms")
    target = g["target"]
    print(f"target (ours >= 2x TRL's completions/s): {'met' if target['met'] else 'NOT met'} "
          f"(median ratio {target['median_ratio']:.2f}x)")


if __name__ == "__main__":
    sys.exit(main())
